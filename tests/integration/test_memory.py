"""Memory writes: versions with their source, rollback of a note and of a store, the
window a run gets, run proposals held for the grade, and the memory pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import memory as memories
from agents import services
from agents.engine.memory import MemoryChange
from agents.models import Agent, Memory, MemoryProposal, MemoryVersion, Run
from agents.simulator import Turn
from clients.services import ServiceError
from tests.factories import make_agent, make_run, wait_for


def fields(key, body="Text.", **extra):
    return {"key": key, "title": key.rsplit("/", 1)[-1].title(), "body": body, **extra}


# A run's memory tool call proposing a new note.
PROPOSE = {
    "name": "memory",
    "input": {
        "command": "propose",
        "change": {
            "operation": "add",
            "key": "client/cms",
            "title": "CMS",
            "body": "WordPress 6.",
            "rationale": "Seen in the page source.",
        },
    },
}


@pytest.fixture
def store(client_a):
    return memories.store_of(make_agent(client_a))


@pytest.mark.django_db
def test_every_change_is_a_version_with_who_and_why(store, bob):
    note = memories.save_note(store, None, fields("client/tone", "Warm."), bob, "From the kickoff")
    memories.save_note(store, note, {"body": "Warm and brief."}, bob, "Client asked")
    memories.save_note(store, note, {"pinned": True}, bob)
    memories.save_note(store, note, {"weight": 4.0}, bob)
    memories.save_note(store, note, {"weight": 4.0}, bob)  # no change: no version
    memories.expire_note(note, bob, "Out of date")

    versions = list(note.versions.order_by("number"))
    assert [v.operation for v in versions] == [
        "created",
        "edited",
        "pinned",
        "reweighted",
        "expired",
    ]
    assert [v.reason for v in versions[:2]] == ["From the kickoff", "Client asked"]
    assert {(v.actor, v.user) for v in versions} == {("person", bob)}
    assert versions[1].state["body"] == "Warm and brief."
    note.refresh_from_db()
    assert (note.status, note.version) == (Memory.Status.EXPIRED, 5)
    assert Memory.objects.filter(pk=note.pk).exists()  # expired, never deleted


@pytest.mark.django_db
def test_restoring_a_version_is_a_new_version_and_refuses_a_taken_key(store, bob):
    note = memories.save_note(store, None, fields("client/tone", "Warm."), bob)
    memories.save_note(store, note, {"body": "Cold."}, bob)

    restored = memories.restore_version(note, 1, bob)

    note.refresh_from_db()
    assert (note.body, note.version, restored.operation) == ("Warm.", 3, "restored")
    assert restored.reason == "Rolled back to version 1"
    with pytest.raises(ServiceError, match="already as it was"):
        memories.restore_version(note, 1, bob)
    memories.expire_note(note, bob, "")
    memories.save_note(store, None, fields("client/tone", "Another."), bob)
    with pytest.raises(ServiceError, match="Another active note now has the key"):
        memories.restore_version(note, 1, bob)


@pytest.mark.django_db
def test_a_store_rolls_back_to_a_point_expiring_later_notes_and_can_be_undone(store, bob):
    tone = memories.save_note(store, None, fields("client/tone", "Warm."), bob)
    point = tone.versions.get().pk
    memories.save_note(store, tone, {"body": "Cold."}, bob)
    later = memories.save_note(store, None, fields("client/cms", "Ghost."), bob)

    changed = memories.rollback_store(store, point, bob)

    assert changed == 2
    tone.refresh_from_db()
    later.refresh_from_db()
    assert (tone.body, tone.status) == ("Warm.", "active")
    assert later.status == Memory.Status.EXPIRED
    # Undo: roll forward to the last change before the rollback.
    last = MemoryVersion.objects.filter(memory=later, operation="created").get().pk
    assert memories.rollback_store(store, last, bob) == 2
    tone.refresh_from_db()
    later.refresh_from_db()
    assert (tone.body, later.status) == ("Cold.", "active")


@pytest.mark.django_db
def test_a_dreams_supersede_keeps_the_old_note_linked_in_history(store):
    old = memories.save_note(store, None, fields("client/cms", "Ghost."), None)
    new = memories.apply_change(
        store,
        MemoryChange(
            "supersede",
            "client/cms-platform",
            "CMS",
            "WordPress.",
            replaces="client/cms",
            rationale="Migrated",
        ),
        memories.Source(memories.Actor.DREAM, "Migrated"),
    )
    old.refresh_from_db()
    assert (old.status, old.superseded_by) == (Memory.Status.SUPERSEDED, new)
    assert [v.operation for v in old.versions.order_by("number")] == ["created", "superseded"]


@pytest.mark.django_db
def test_the_window_reads_live_notes_and_the_playbook_within_the_agents_budget(client_a):
    agent = make_agent(client_a, memory_token_budget=60)
    store = memories.store_of(agent)
    memories.save_note(store, None, fields("a/pinned", pinned=True, weight=0.1), None)
    memories.save_note(store, None, fields("a/heavy", weight=9.0), None)
    memories.save_note(store, None, fields("a/huge", "x" * 2000, weight=8.0), None)
    past = memories.save_note(store, None, fields("a/past"), None)
    Memory.objects.filter(pk=past.pk).update(expires_at=timezone.now() - timedelta(days=1))
    memories.save_note(memories.playbook_of(agent.agency), None, fields("style", weight=5), None)

    window = memories.window_for(agent)

    assert [n.label for n in window.notes] == ["a/pinned", "a/heavy", "playbook:style"]
    assert [n.label for n in window.left_out] == ["a/huge"]
    assert window.tokens <= 60


def noting_agent(simulator, client_row):
    """An agent whose run proposes PROPOSE's note, then answers; changes apply at once."""
    simulator.add_script("noting", [Turn(tool_uses=(PROPOSE,)), Turn(text="# Audit\nDone.")])
    return make_agent(
        client_row,
        instructions="Audit. [sim:script=noting]",
        tools=["memory"],
        memory_review_mode=Agent.ReviewMode.AUTO,
    )


@pytest.mark.django_db(transaction=True)
def test_a_runs_proposals_count_only_if_the_run_passes(worker, simulator, client_a):
    agent = noting_agent(simulator, client_a)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    proposal = MemoryProposal.objects.get(run=run)
    assert proposal.status == MemoryProposal.Status.APPLIED
    note = Memory.objects.get(key="client/cms")
    version = note.versions.get()
    assert (version.actor, version.run) == ("run", run)
    result = run.events.get(type="tool.result").data
    assert result["content"].startswith("Proposed.")

    # A run that does not end well changes nothing: its proposal is refused.
    failing = make_run(agent, status=Run.Status.FAILED_GRADE)
    memories.record_proposal(
        memories.store_of(agent),
        MemoryChange("add", "client/x", "X", "Y", rationale="R"),
        MemoryProposal.Status.HELD,
        run=failing,
    )
    memories.settle_run_proposals(failing)
    refused = MemoryProposal.objects.get(run=failing)
    assert refused.status == MemoryProposal.Status.REFUSED
    assert "only runs that met the floor" in refused.refusal


@pytest.mark.django_db
def test_an_approved_change_that_no_longer_fits_is_refused_with_a_reason(store, bob):
    note = memories.save_note(store, None, fields("client/tone"), bob)
    proposal = memories.record_proposal(
        store,
        MemoryChange("edit", "client/tone", body="New.", rationale="R"),
        MemoryProposal.Status.PENDING,
    )
    memories.expire_note(note, bob, "")
    with pytest.raises(ServiceError, match="no longer fits the store"):
        memories.approve(proposal, bob)
    proposal.refresh_from_db()
    assert proposal.status == MemoryProposal.Status.PENDING


@pytest.mark.django_db
def test_the_memory_pages_edit_search_and_keep_bad_input(client, bob, client_a):
    agent = make_agent(client_a)
    store = memories.store_of(agent)
    note = memories.save_note(store, None, fields("client/tone", "Warm.", tags=["voice"]), bob)
    client.force_login(bob)
    base = "/a/agency-a"

    listing = f"{base}/agents/{agent.public_id}/memory/"
    page = client.get(listing, {"q": "warm"})
    assert page.status_code == 200
    assert "client/tone" in page.content.decode()
    # Search as you type swaps only the list: it holds the note, or says nothing matches.
    found = client.get(listing, {"q": "warm", "tag": "voice"}, HTTP_HX_REQUEST="true")
    assert found.content.decode().lstrip().startswith('<section class="card card-flush span-2"')
    assert "client/tone" in found.content.decode()
    missed = client.get(listing, {"tag": "other"}, HTTP_HX_REQUEST="true").content.decode()
    assert "client/tone" not in missed
    assert "No note matches" in missed

    edit = f"{base}/memory/{note.public_id}/edit/"
    response = client.post(
        edit,
        {
            "key": "client/tone",
            "title": "Tone",
            "body": "Warm and brief.",
            "tags": "voice, preferences",
            "weight": "2",
            "reason": "Client asked",
        },
    )
    assert response.status_code == 302
    note.refresh_from_db()
    assert (note.body, note.tags, note.version) == ("Warm and brief.", ["voice", "preferences"], 2)

    bad = client.post(
        edit,
        {
            "key": "Not A Key",
            "title": "T",
            "body": "Kept text",
            "tags": "OK, Bad Tag",
            "weight": "2",
        },
    )
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "A key is a path of lowercase words" in body
    assert "Kept text" in body
    assert "not bad tag" in body
    note.refresh_from_db()
    assert note.version == 2


@pytest.mark.django_db
def test_approving_an_addition_overtakes_queued_additions_of_the_same_key(store, bob):
    first, second = (
        memories.record_proposal(
            store,
            MemoryChange("add", "client/cms", "CMS", body, rationale="R"),
            MemoryProposal.Status.PENDING,
        )
        for body in ("WordPress.", "WordPress 6.")
    )
    memories.approve(first, bob)
    second.refresh_from_db()
    assert second.status == MemoryProposal.Status.REFUSED
    assert second.refusal == "Overtaken: client/cms was added by a later change."


@pytest.mark.django_db
def test_an_applied_changes_diff_is_against_the_note_as_it_was_proposed(store, bob):
    note = memories.save_note(store, None, fields("client/tone", weight=1.0), bob)
    proposal = memories.record_proposal(
        store,
        MemoryChange("reweight", "client/tone", weight=3.0, rationale="R"),
        MemoryProposal.Status.PENDING,
    )
    memories.approve(proposal, bob)
    note.refresh_from_db()
    assert note.weight == 3.0
    before, after = memories.proposed_state(proposal)
    assert (before["weight"], after["weight"]) == (1.0, 3.0)
    assert ("del", "weight: 1") in memories.diff_lines(before, after)
