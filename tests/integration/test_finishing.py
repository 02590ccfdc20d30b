"""Finishing a run whatever its rubric or memory proposals hold.

A rubric version saved before today's checks (anchors, the size limit) still
grades, shows in the editor and copies; a memory proposal that cannot be settled
is refused with the reason, and never costs the run its result or the sweeper its
other runs.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import yaml
from django.db import IntegrityError
from django.utils import timezone

from agents import memory as memories
from agents import services
from agents.engine.memory import MemoryChange
from agents.engine.rubric import RubricError, dump_rubric, load_rubric, rubric_data
from agents.models import Agent, Grade, Memory, MemoryProposal, RubricVersion, Run
from agents.simulator import Turn
from clients.services import ServiceError
from tests.factories import make_agent, make_run, wait_for
from tests.integration.test_grading import RUBRIC as GRADING_RUBRIC
from tests.integration.test_memory import noting_agent

# The grading tests' rubric, with no revision pass.
PLAIN = GRADING_RUBRIC.replace("max_revisions: 2", "max_revisions: 0")
# The same rubric with an anchor and an alias: valid YAML, saved before they were refused.
ANCHORED = PLAIN.replace("weight: 0.5\n  - key: clarity", "weight: &half 0.5\n  - key: clarity")
ANCHORED = ANCHORED[: ANCHORED.rindex("weight: 0.5")] + "weight: *half\n"
# Saved before the 20,000-character limit: a long comment, then the rubric.
LONG = "# " + "x" * 20_500 + "\n" + PLAIN


def old_version(agent: Agent, source: str, definition: object = None) -> RubricVersion:
    """A version as written before today's checks: straight to the table, not save_rubric."""
    return RubricVersion.objects.create(
        agency=agent.agency,
        agent=agent,
        number=1,
        source=source,
        definition=rubric_data(load_rubric(PLAIN)) if definition is None else definition,
    )


def url(agent: Agent, suffix: str = "") -> str:
    return f"/a/agency-a/agents/{agent.public_id}/rubric/{suffix}"


def test_the_old_sources_no_longer_load_by_themselves():
    # Both are the same rubric to YAML, yet today's loader refuses them.
    assert yaml.safe_load(ANCHORED) == yaml.safe_load(PLAIN) == yaml.safe_load(LONG)
    with pytest.raises(RubricError, match="anchors"):
        load_rubric(ANCHORED)
    with pytest.raises(RubricError, match="the limit is 20,000"):
        load_rubric(LONG)


@pytest.mark.django_db(transaction=True)
def test_a_run_is_graded_against_a_rubric_saved_with_an_anchor(worker, simulator, client_a):
    simulator.add_script("draft", [Turn(text="# Audit\n- Titles repeat on /, /blog.")])
    judge = {
        "name": "submit_verdicts",
        "input": {
            "verdicts": [
                {"key": "coverage", "passed": True, "evidence": "3 of 3.", "feedback": "None."},
                {
                    "key": "clarity",
                    "passed": True,
                    "score": 9,
                    "evidence": "URLs named.",
                    "feedback": "None.",
                },
            ]
        },
    }
    simulator.add_script("judge", [Turn(tool_uses=(judge,))])
    agent = make_agent(
        client_a,
        instructions="Audit the site. [sim:script=draft] [sim:grader=judge]",
        retry_backoff_seconds="0.01",
    )
    version = old_version(agent, ANCHORED)

    run = wait_for(services.trigger_run(agent, None))

    assert (run.status, run.error) == (Run.Status.SUCCEEDED, "")
    assert run.rubric_version == version
    assert run.score == pytest.approx(9.5)
    grade = Grade.objects.get(attempt__run=run)
    assert grade.status == Grade.Status.PASSED
    assert [v["key"] for v in grade.verdicts] == ["coverage", "clarity"]


@pytest.mark.django_db
@pytest.mark.parametrize("source", [ANCHORED, LONG], ids=["anchored", "long"])
def test_the_editor_and_the_form_open_an_old_version_and_name_its_problems(
    client, ada, client_a, source
):
    agent = make_agent(client_a)
    old_version(agent, source)
    client.force_login(ada)

    editor = client.get(url(agent))
    form = client.get(url(agent, "form/"))

    assert editor.status_code == 200
    html = editor.content.decode()
    assert "anchors (&amp;name)" in html or "the limit is 20,000" in html
    assert "saved before today&#x27;s checks" in html
    assert form.status_code == 200
    assert 'value="coverage"' in form.content.decode()


@pytest.mark.django_db
def test_the_form_names_the_problems_of_a_saved_definition_that_no_longer_checks(
    client, ada, client_a
):
    agent = make_agent(client_a)
    old_version(agent, PLAIN, definition={"floor": 7, "criteria": []})
    client.force_login(ada)

    response = client.get(url(agent, "form/"))

    assert response.status_code == 200
    assert b"A rubric needs a list of at least one criterion." in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("source", [ANCHORED, LONG], ids=["anchored", "long"])
def test_an_old_version_is_copied_in_its_checked_form(client, ada, client_a, source):
    old = make_agent(client_a, name="Old")
    old_version(old, source)
    target = make_agent(client_a, name="Target")
    client.force_login(ada)

    response = client.post(url(target, "copy/"), {"source": str(old.public_id)}, follow=True)

    assert response.status_code == 200
    assert b"Copied Old&#x27;s rubric: version 1 published." in response.content
    copied = RubricVersion.objects.get(agent=target)
    assert copied.source == dump_rubric(load_rubric(PLAIN))
    assert copied.definition == rubric_data(load_rubric(PLAIN))
    assert copied.note == "Copied from Old v1"


@pytest.mark.django_db
def test_a_rubric_that_cannot_be_copied_says_why_instead_of_failing(client, ada, client_a):
    definition = rubric_data(load_rubric(PLAIN))
    definition["criteria"][0]["description"] = "Every page. " * 2_000  # 24,000 characters
    old = make_agent(client_a, name="Old")
    old_version(old, PLAIN, definition=definition)
    target = make_agent(client_a, name="Target")

    with pytest.raises(ServiceError, match="Old's rubric \\(version 1\\) could not be copied"):
        services.copy_rubric(old, target, None)
    client.force_login(ada)
    response = client.post(url(target, "copy/"), {"source": str(old.public_id)}, follow=True)

    assert response.status_code == 200
    assert b"could not be copied" in response.content
    assert b"the limit is 20,000" in response.content
    assert not RubricVersion.objects.filter(agent=target).exists()


# ------------------------------------------------------------------ settling proposals


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_proposals_cannot_be_settled_keeps_its_result(
    worker, simulator, client_a, monkeypatch, caplog
):
    agent = noting_agent(simulator, client_a)

    def clash(*args, **kwargs):  # a dream added the same key in the same instant
        raise IntegrityError('duplicate key value violates "memory_live_key_unique"')

    monkeypatch.setattr(memories, "apply_change", clash)

    with caplog.at_level(logging.ERROR, logger="agents.memory"):
        run = wait_for(services.trigger_run(agent, None))

    assert (run.status, run.output) == (Run.Status.SUCCEEDED, "# Audit\nDone.")
    assert run.finished_at is not None
    proposal = MemoryProposal.objects.get(run=run)
    assert proposal.status == MemoryProposal.Status.REFUSED
    assert proposal.refusal.startswith("Could not be settled: an unexpected error (IntegrityError)")
    assert not Memory.objects.filter(key="client/cms").exists()
    logged = [r for r in caplog.records if "settling its memory proposals failed" in r.message]
    assert logged
    assert logged[0].exc_info is not None


@pytest.mark.django_db
def test_the_sweeper_ends_a_run_whose_held_proposal_no_longer_reads(client_a, caplog):
    agent = make_agent(client_a, max_runtime_seconds=60)
    now = timezone.now()
    run = make_run(agent, status=Run.Status.RUNNING, started_at=now - timedelta(minutes=7))
    store = memories.store_of(agent)
    good = memories.record_proposal(
        store, MemoryChange("add", "client/x", "X", "Y", rationale="R"), "held", run=run
    )
    # A held proposal written by an older release, without the key it changes.
    broken = MemoryProposal.objects.create(
        agency=agent.agency,
        store=store,
        run=run,
        operation="add",
        change={"operation": "add", "title": "T"},
        rationale="R",
        status=MemoryProposal.Status.HELD,
    )

    with caplog.at_level(logging.ERROR, logger="agents.memory"):
        ended, _ = services.sweep_stuck_runs(now)

    run.refresh_from_db()
    assert ended == 1
    assert run.status == Run.Status.TIMED_OUT
    for proposal in (good, broken):
        proposal.refresh_from_db()
        assert proposal.status == MemoryProposal.Status.REFUSED
        assert proposal.refusal.startswith("Could not be settled: an unexpected error (KeyError)")
    [logged] = [r for r in caplog.records if "settling its memory proposals failed" in r.message]
    assert logged.exc_info is not None
    assert logged.exc_info[0] is KeyError


@pytest.mark.django_db
def test_one_run_that_cannot_be_swept_does_not_stop_the_others(client_a, monkeypatch, caplog):
    agent = make_agent(client_a, max_runtime_seconds=60)
    now = timezone.now()
    before = now - timedelta(minutes=7)
    first, bad, last = (
        make_run(agent, status=Run.Status.RUNNING, started_at=before) for _ in range(3)
    )
    real_totals = services.trace_totals

    def totals(run):
        if run.pk == bad.pk:
            raise ValueError("a corrupt trace")
        return real_totals(run)

    monkeypatch.setattr(services, "trace_totals", totals)

    with caplog.at_level(logging.ERROR, logger="agents.services"):
        ended, _ = services.sweep_stuck_runs(now)

    assert ended == 2
    statuses = {r.pk: r.status for r in Run.objects.filter(pk__in=[first.pk, bad.pk, last.pk])}
    assert statuses == {
        first.pk: Run.Status.TIMED_OUT,
        bad.pk: Run.Status.RUNNING,
        last.pk: Run.Status.TIMED_OUT,
    }
    [record] = [r for r in caplog.records if "could not be swept" in r.message]
    assert str(bad.public_id) in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
