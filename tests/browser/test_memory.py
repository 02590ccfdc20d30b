"""Memory in a real browser: a queued dream's changes approved, edited and rejected;
a note's history and a rollback."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agents import memory as memories
from agents.engine.memory import MemoryChange
from agents.models import Agent, Dream, Memory, MemoryProposal
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db(transaction=True)


def queued_changes(agent):
    """Three changes a dream proposed and the review mode queued."""
    store = memories.store_of(agent)
    memories.save_note(
        store, None, {"key": "client/pages", "title": "Pages", "body": "Three pages."}, None
    )
    run = make_run(agent, status="succeeded", score=8.4)
    dream = Dream.objects.create(
        agency=agent.agency, agent=agent, trigger="manual", status="completed", queued=3
    )
    ids = (str(run.public_id),)
    changes = [
        MemoryChange(
            "add", "client/tone", "Tone", "Warm and brief.", rationale="Graded well.", runs=ids
        ),
        MemoryChange(
            "edit", "client/pages", body="Four pages now.", rationale="New page.", runs=ids
        ),
        MemoryChange(
            "add", "client/cms", "CMS", "WordPress 6.", rationale="Seen in the run.", runs=ids
        ),
    ]
    return [
        memories.record_proposal(store, c, MemoryProposal.Status.PENDING, dream=dream)
        for c in changes
    ]


def test_approve_edit_and_reject_queued_changes_then_bulk(
    live_server, page, login_as, bob, client_a, shoot
):
    agent = make_agent(client_a, memory_review_mode=Agent.ReviewMode.QUEUE_ALL)
    tone, pages, cms = queued_changes(agent)
    login_as(bob)
    page.goto(f"{live_server.url}/a/agency-a/memory/review/")

    card = page.locator(f"#proposal-{pages.public_id}")
    expect(card).to_contain_text("New page.")
    expect(card.locator(".diff-del")).to_contain_text("Three pages.")
    expect(card.locator(".diff-add")).to_contain_text("Four pages now.")
    expect(card.get_by_role("link", name="run of")).to_be_visible()
    shoot("memory-review")

    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").first).to_contain_text("Approved")
    assert Memory.objects.get(key="client/pages").body == "Four pages now."

    page.locator(f"#proposal-{tone.public_id}").get_by_role(
        "link", name="Edit, then approve"
    ).click()
    editor = page.locator(f"#proposal-{tone.public_id}")
    editor.get_by_label("Body").fill("Warm, brief, and never pushy.")
    editor.get_by_role("button", name="Approve with these edits").click()
    expect(page.get_by_role("status").first).to_contain_text("Edited and approved")
    assert Memory.objects.get(key="client/tone").body == "Warm, brief, and never pushy."

    page.locator(f"#proposal-{cms.public_id}").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").first).to_contain_text("Rejected")
    assert not Memory.objects.filter(key="client/cms").exists()
    expect(page.get_by_text("Nothing to review")).to_be_visible()
    expect(page.locator("table")).to_contain_text("Rejected")

    # Bulk: two more, both rejected at once.
    more = queued_changes(make_agent(client_a, name="Competitor watch"))
    page.reload()
    for proposal in more[:2]:
        page.locator(f"#proposal-{proposal.public_id}").get_by_role("checkbox").check()
    page.get_by_role("button", name="Reject ticked").click()
    expect(page.get_by_role("status").first).to_contain_text("Rejected 2 changes")
    statuses = sorted(
        MemoryProposal.objects.filter(pk__in=[p.pk for p in more]).values_list("status", flat=True)
    )
    assert statuses == ["pending", "rejected", "rejected"]


def test_a_note_is_searched_edited_restored_and_the_store_rolled_back(
    live_server, page, login_as, bob, client_a, shoot
):
    agent = make_agent(client_a)
    store = memories.store_of(agent)
    memories.save_note(
        store,
        None,
        {"key": "client/tone", "title": "Tone", "body": "Warm.", "tags": ["preferences"]},
        bob,
    )
    memories.save_note(store, None, {"key": "client/cms", "title": "CMS", "body": "Ghost."}, bob)
    login_as(bob)
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    page.get_by_role("link", name="Memory", exact=True).click()

    page.get_by_label("Search notes").fill("ghost")
    notes = page.locator("#note-list")
    expect(notes.get_by_role("link", name="CMS")).to_be_visible()
    expect(notes.get_by_role("link", name="Tone")).to_have_count(0)
    page.get_by_label("Search notes").fill("")
    expect(notes.get_by_role("link", name="Tone")).to_be_visible()
    expect(page.locator("#window")).to_contain_text("2 notes")
    shoot("memory-browser")

    notes.get_by_role("link", name="Tone").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Body").fill("Warm and brief.")
    page.get_by_label("Reason").fill("Client asked for shorter reports")
    page.get_by_role("button", name="Save changes").click()
    history = page.locator("#history")
    expect(history).to_contain_text("Client asked for shorter reports")
    expect(history.locator(".diff-add").first).to_contain_text("Warm and brief.")
    shoot("memory-note")

    history.get_by_role("button", name="Restore v1").click()
    expect(page.get_by_role("status").first).to_contain_text("Restored version 1")
    note = Memory.objects.get(key="client/tone")
    assert (note.body, note.version) == ("Warm.", 3)

    # Roll the whole store back to right after the first note: the second is expired.
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/memory/")
    rows = page.locator("#store-history tbody tr")
    rows.last.get_by_role("button", name="Roll back to here").click()
    expect(page.get_by_role("status").first).to_contain_text("Rolled the store back")
    assert Memory.objects.get(key="client/cms").status == Memory.Status.EXPIRED
    assert Memory.objects.get(key="client/tone").status == Memory.Status.ACTIVE
