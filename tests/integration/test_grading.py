"""Graded runs through a real Celery worker and the simulated Messages API.

The agent's turns and the grader's verdicts are scripted in the simulator;
the grader's calls force the `submit_verdicts` tool, as against the real API.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents import services
from agents.models import Attempt, Grade, Run, RunEvent
from agents.simulator import Turn
from tests.factories import make_agent, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

RUBRIC = """\
floor: 7.5
max_revisions: 2
criteria:
  - key: coverage
    description: Every page of the site is audited.
    kind: hard
    weight: 0.5
  - key: clarity
    description: Each finding says what to do next.
    kind: soft
    weight: 0.5
"""


def verdicts(coverage: bool, clarity: float, **extra) -> Turn:
    items = [
        {
            "key": "coverage",
            "passed": coverage,
            "evidence": "Pages: 3 of 3.",
            "feedback": "Audit /blog too.",
        },
        {
            "key": "clarity",
            "passed": clarity >= 7.5,
            "score": clarity,
            "evidence": "- Titles repeat.",
            "feedback": "Say which titles to change and to what.",
        },
    ]
    return Turn(tool_uses=({"name": "submit_verdicts", "input": {"verdicts": items, **extra}},))


def graded_agent(client, script, grader, rubric=RUBRIC, **fields):
    agent = make_agent(
        client,
        instructions=f"Audit the site. [sim:script={script}] [sim:grader={grader}]",
        retry_backoff_seconds="0.01",
        **fields,
    )
    services.save_rubric(agent, rubric, None)
    return agent


def grader_requests(simulator):
    return [r["body"] for r in simulator.state.requests if r["body"].get("tool_choice")]


def test_a_failed_first_attempt_is_revised_with_the_feedback_and_then_passes(
    worker, simulator, client_a
):
    simulator.add_script("draft", [Turn(text="# Audit\n- Titles repeat.")])
    simulator.add_script("draft.rev1", [Turn(text="# Audit\n- Titles repeat on /, /blog.")])
    simulator.add_script("judge", [verdicts(False, 4), verdicts(True, 9)])
    agent = graded_agent(client_a, "draft", "judge")

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    assert run.output == "# Audit\n- Titles repeat on /, /blog."
    # First pass: the gate failed (0) and clarity 4, half each; then 10 and 9.
    assert run.first_pass_score == pytest.approx(2.0)
    assert run.score == pytest.approx(9.5)
    assert run.revisions == 1
    assert run.rubric_version.number == 1
    assert run.outcome == "passed_revised"
    first, second = Attempt.objects.filter(run=run).order_by("number")
    assert first.output == "# Audit\n- Titles repeat."
    assert first.feedback == []
    assert [v["key"] for v in second.feedback] == ["coverage", "clarity"]
    grades = {g.attempt.number: g for g in Grade.objects.filter(attempt__run=run)}
    assert grades[1].status == Grade.Status.FAILED
    assert grades[2].status == Grade.Status.PASSED
    assert grades[2].verdicts[1] == {
        "key": "clarity",
        "kind": "soft",
        "weight": 0.5,
        "score": 9.0,
        "passed": True,
        "evidence": "- Titles repeat.",
        "feedback": "Say which titles to change and to what.",
    }
    # The revision was asked with every failed criterion's feedback and the last draft.
    agent_calls = [r["body"] for r in simulator.state.requests if not r["body"].get("tool_choice")]
    revision = agent_calls[-1]["messages"][0]["content"]
    assert "## Revision 1 of this run" in revision
    assert "- coverage (failed): Audit /blog too." in revision
    assert "- clarity (4/10): Say which titles to change and to what." in revision
    assert revision.endswith("# Audit\n- Titles repeat.")
    # The grader ran in its own context: its system prompt, the rubric, a forced tool.
    calls = grader_requests(simulator)
    assert len(calls) == 2
    assert calls[0]["tool_choice"] == {"type": "tool", "name": "submit_verdicts"}
    assert "strict, fair grader" in calls[0]["system"][0]["text"]
    assert '"key": "coverage"' in calls[0]["messages"][0]["content"]
    assert len(calls[0]["messages"]) == 1
    # Grader spend is recorded apart from the agent's.
    grader_events = RunEvent.objects.filter(run=run, type="grade.response")
    assert grader_events.count() == 2
    assert run.grader_cost_usd == sum(e.cost_usd for e in grader_events)
    assert run.grader_cost_usd == sum(g.cost_usd for g in grades.values())
    agent_events = RunEvent.objects.filter(run=run, type="model.response")
    assert run.model_cost_usd == sum(e.cost_usd for e in agent_events)
    assert run.total_cost_usd == run.cost_usd + run.grader_cost_usd


def test_grader_answers_that_do_not_validate_leave_the_run_not_graded(worker, simulator, client_a):
    simulator.add_script("work", [Turn(text="# Audit")])
    # One criterion judged, never the other: three tries, then no grade at all.
    missing = Turn(
        tool_uses=(
            {
                "name": "submit_verdicts",
                "input": {
                    "verdicts": [
                        {"key": "coverage", "passed": True, "evidence": "x", "feedback": "y"}
                    ]
                },
            },
        )
    )
    simulator.add_script("lazy", [missing, missing, missing])
    agent = graded_agent(client_a, "work", "lazy")

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.NOT_GRADED
    assert run.score is None
    assert "The grader did not judge: clarity" in run.error
    grade = Grade.objects.get(attempt__run=run)
    assert grade.status == Grade.Status.ERROR
    assert grade.calls == 3
    assert grade.verdicts == []
    assert RunEvent.objects.filter(run=run, type="grade.invalid").count() == 3
    assert run.outcome == "not_graded"


def test_a_run_that_still_fails_after_its_revisions_ends_failed_grade(worker, simulator, client_a):
    simulator.add_script("meh", [Turn(text="# Audit")])
    simulator.add_script("harsh", [verdicts(True, 3), verdicts(True, 4)])
    agent = graded_agent(
        client_a, "meh", "harsh", rubric=RUBRIC.replace("max_revisions: 2", "max_revisions: 1")
    )

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.FAILED_GRADE
    assert run.revisions == 1
    assert run.first_pass_score == pytest.approx(6.5)
    assert run.score == pytest.approx(7.0)
    assert run.error == (
        "Attempt 2 scored 7.0 against a floor of 7.5; no revision left (the rubric allows 1)."
    )
    assert run.output == "# Audit"
    assert run.outcome == "failed"


def test_a_grade_near_the_floor_is_taken_three_times_and_the_median_kept(
    worker, simulator, client_a
):
    simulator.add_script("ok", [Turn(text="# Audit")])
    # 10/2 + 4/2 = 7.0, then 8.0, then 7.6: within 1 of the floor, so the median 7.6 counts.
    simulator.add_script("noisy", [verdicts(True, 4), verdicts(True, 6), verdicts(True, 5.2)])
    agent = graded_agent(client_a, "ok", "noisy", rubric="regrade_margin: 1\n" + RUBRIC)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    assert run.score == pytest.approx(7.6)
    grade = Grade.objects.get(attempt__run=run)
    assert grade.samples == pytest.approx([7.0, 8.0, 7.6])
    assert grade.calls == 3
    assert grade.verdicts[1]["score"] == 5.2
    assert run.revisions == 0


def test_the_grader_is_retried_on_transient_errors_and_uses_its_own_model(
    worker, simulator, client_a
):
    from agents.models import ModelPrice
    from agents.prices import ensure_default_prices

    ensure_default_prices()
    haiku = ModelPrice.objects.exclude(model="claude-sonnet-4-6").order_by("input_per_mtok")[0]
    simulator.add_script("ok2", [Turn(text="# Audit")])
    passing = verdicts(True, 9)
    simulator.add_script("busy", [Turn(tool_uses=passing.tool_uses, fail_first=(529, 500))])
    agent = graded_agent(client_a, "ok2", "busy", grader_model=haiku)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    assert RunEvent.objects.filter(run=run, type="grade.retry").count() == 2
    (call,) = grader_requests(simulator)[-1:]
    assert call["model"] == haiku.model
    assert Grade.objects.get(attempt__run=run).grader_model == haiku.model


def test_the_revision_cost_cap_stops_revising(worker, simulator, client_a):
    simulator.add_script("cheap", [Turn(text="# Audit")])
    simulator.add_script("never", [verdicts(False, 2)] * 6)
    rubric = RUBRIC.replace("max_revisions: 2", "max_revisions: 5")
    # A pass plus its grade costs about $0.004 here, so a cap of $0.01 buys a
    # revision or two: each starts only if the last pass's cost still fits.
    cap = Decimal("0.01")
    agent = graded_agent(
        client_a, "cheap", "never", rubric=rubric + f"revision_cost_cap_usd: {cap}\n"
    )

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.FAILED_GRADE
    costs = [
        a.cost_usd + a.grades.get().cost_usd
        for a in Attempt.objects.filter(run=run).order_by("number")
    ]
    assert 1 <= run.revisions < 5
    assert len(costs) == run.revisions + 1
    for n in range(1, len(costs)):  # revision n started: what was spent plus a guess fit
        assert sum(costs[1:n]) + costs[n - 1] <= cap
    assert sum(costs[1:]) + costs[-1] > cap  # and the next one would not
    assert "another revision could pass the revision cost cap of $0.01" in run.error


def test_a_run_picked_up_again_reuses_its_finished_attempt_and_stored_grade(simulator, client_a):
    from django.utils import timezone

    from agents import grading
    from tests.factories import make_run

    simulator.add_script("again", [Turn(text="# First")])
    simulator.add_script("again.rev1", [Turn(text="# Second")])
    simulator.add_script("judge2", [verdicts(True, 9)])  # one grade: for attempt 2 only
    agent = graded_agent(client_a, "again", "judge2")
    version = grading.current_rubric(agent.pk)
    # A worker finished and graded attempt 1, then died; the sweeper queued the run again.
    run = make_run(agent, status=Run.Status.QUEUED, attempt=1, started_at=timezone.now())
    first = Attempt.objects.create(
        agency=run.agency,
        run=run,
        number=1,
        status="succeeded",
        output="# First",
        finished_at=timezone.now(),
    )
    failed = verdicts(False, 4).tool_uses[0]["input"]["verdicts"]
    Grade.objects.create(
        agency=run.agency,
        attempt=first,
        rubric_version=version,
        status=Grade.Status.FAILED,
        score=2.0,
        verdicts=[{**v, "kind": "soft", "weight": 0.5, "score": v.get("score", 0)} for v in failed],
        grader_model="claude-sonnet-4-6",
    )

    services.execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.output == "# Second"
    assert (run.first_pass_score, run.score, run.revisions) == (2.0, 9.5, 1)
    bodies = [r["body"] for r in simulator.state.requests]
    assert len([b for b in bodies if b.get("tool_choice")]) == 1  # attempt 1 not graded again
    (agent_call,) = [b for b in bodies if not b.get("tool_choice")]  # nor run again
    assert "## Revision 1 of this run" in agent_call["messages"][0]["content"]
    assert Grade.objects.filter(attempt__run=run).count() == 2
