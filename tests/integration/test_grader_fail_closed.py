"""The grader fails closed on every bad verdict: real worker, real SDK, the simulator.

Each bad answer is scripted in the simulator (a contradicting hard score, blank
evidence, a literal NaN in the streamed tool input, broken tool JSON, an answer
cut off at max_tokens). The grader asks three times; the run ends Not graded
(never Succeeded, never an internal error), the trace holds the grade.invalid
events and the grader's spend is recorded.
"""

from __future__ import annotations

import json

import pytest

from agents import services
from agents.dreams import _TraceSink
from agents.engine.forced import TRACE_TEXT_CHARS
from agents.engine.types import Event
from agents.models import Grade, Run, RunEvent
from agents.simulator import Turn
from tests.factories import make_agent, make_run, wait_for
from tests.integration.test_grading import RUBRIC as GRADING_RUBRIC

pytestmark = pytest.mark.django_db(transaction=True)

# The grading tests' rubric, with one revision pass.
RUBRIC = GRADING_RUBRIC.replace("max_revisions: 2", "max_revisions: 1")
COVERAGE = {
    "key": "coverage",
    "passed": True,
    "score": 10,
    "evidence": "Pages: 3 of 3.",
    "feedback": "Keep it.",
}
CLARITY = {
    "key": "clarity",
    "passed": True,
    "score": 9,
    "evidence": "- Titles repeat.",
    "feedback": "Say which titles.",
}
GOOD_JSON = json.dumps({"verdicts": [COVERAGE, CLARITY]})


def answer(*verdicts, stop_reason=None) -> Turn:
    return Turn(
        tool_uses=({"name": "submit_verdicts", "input": {"verdicts": list(verdicts)}},),
        stop_reason=stop_reason,
    )


def raw(text: str, stop_reason=None) -> Turn:
    """A reply whose tool input streams as exactly `text` (what JSON cannot carry)."""
    return Turn(tool_uses=({"name": "submit_verdicts", "raw_json": text},), stop_reason=stop_reason)


BAD = {
    "hard-contradiction": (
        answer({**COVERAGE, "score": 0}, CLARITY),
        "'coverage' says passed=True against its score 0",
    ),
    "blank-evidence": (answer({**COVERAGE, "evidence": "   "}, CLARITY), "blank evidence"),
    "zero-width-evidence": (answer({**COVERAGE, "evidence": "\u200b"}, CLARITY), "blank evidence"),
    "nan": (raw(GOOD_JSON.replace('"score": 9', '"score": NaN')), "not a number: 'NaN'"),
    "malformed": (raw('{"verdicts": [{"key": "coverage", "passed": }'), "could not be read"),
    "max-tokens": (answer(COVERAGE, CLARITY, stop_reason="max_tokens"), "cut off at max_tokens"),
}


def graded_agent(client, script, grader, **fields):
    agent = make_agent(
        client,
        instructions=f"Audit the site. [sim:script={script}] [sim:grader={grader}]",
        retry_backoff_seconds="0.01",
        **fields,
    )
    services.save_rubric(agent, RUBRIC, None)
    return agent


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_verdict_leaves_the_run_not_graded_with_the_grader_spend_recorded(
    worker, simulator, client, bob, carol, client_a, case
):
    bad, message = BAD[case]
    simulator.add_script("work", [Turn(text="# Audit\n- Titles repeat.")])
    simulator.add_script(case, [bad, bad, bad, answer(COVERAGE, CLARITY)])
    agent = graded_agent(client_a, "work", case)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.NOT_GRADED
    assert run.outcome == "not_graded"
    assert run.score is None
    assert run.error.startswith("Not graded: The grader's answer ")
    assert message in run.error
    assert "Internal error" not in run.error
    grade = Grade.objects.get(attempt__run=run)
    assert grade.status == Grade.Status.ERROR
    assert grade.calls == 3
    assert grade.verdicts == []
    invalid = RunEvent.objects.filter(run=run, type="grade.invalid").order_by("seq")
    assert [e.data["try"] for e in invalid] == [1, 2, 3]
    assert all(message in e.data["error"] for e in invalid)
    responses = RunEvent.objects.filter(run=run, type="grade.response")
    assert responses.count() == 3
    assert run.grader_cost_usd > 0
    assert run.grader_cost_usd == sum(e.cost_usd for e in responses) == grade.cost_usd
    assert run.grader_input_tokens > 0
    # The fourth, good answer was never asked for: three calls in all.
    assert len([r for r in simulator.state.requests if r["body"].get("tool_choice")]) == 3

    client.force_login(bob)
    page = client.get(f"/a/agency-a/runs/{run.public_id}/")
    assert page.status_code == 200
    assert b"Not graded" in page.content
    assert b"Internal error" not in page.content
    assert b"grade.invalid" in page.content
    client.force_login(carol)
    assert client.get(f"/a/agency-a/runs/{run.public_id}/").status_code == 404


def test_a_nan_score_is_stored_in_the_trace_as_text(worker, simulator, client_a):
    simulator.add_script("work2", [Turn(text="# Audit")])
    bad, _ = BAD["nan"]
    simulator.add_script("nan-judge", [bad, answer(COVERAGE, CLARITY)])
    agent = graded_agent(client_a, "work2", "nan-judge")

    run = wait_for(services.trigger_run(agent, None))

    # Asked again after the NaN, and the second answer passed.
    assert run.status == Run.Status.SUCCEEDED
    assert run.score == pytest.approx(9.5)
    first = RunEvent.objects.filter(run=run, type="grade.response").order_by("seq").first()
    assert first.data["content"][0]["input"]["verdicts"][1]["score"] == "NaN"
    assert RunEvent.objects.filter(run=run, type="grade.invalid").count() == 1


def test_an_agent_reply_with_broken_tool_json_fails_the_run_as_a_model_error(
    worker, simulator, client_a
):
    broken = Turn(tool_uses=({"name": "write_file", "raw_json": '{"path": }'},))
    simulator.add_script("garbled", [broken])
    agent = graded_agent(client_a, "garbled", "never-asked", retry_attempts=3)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.FAILED
    assert run.error.startswith("The model's reply could not be read (the tool input")
    assert run.error.endswith("after 3 attempts.")
    assert "Internal error" not in run.error
    assert RunEvent.objects.filter(run=run, type="model.retry").count() == 2
    assert RunEvent.objects.filter(run=run, type="model.error").count() == 1
    assert run.cost_usd > 0  # the unreadable replies were paid for
    assert not Grade.objects.filter(attempt__run=run).exists()


def test_a_grader_whose_stream_ends_early_leaves_the_run_not_graded(worker, simulator, client_a):
    # Whole, passing verdicts, but the stream closed before the reply finished.
    cut = Turn(
        tool_uses=({"name": "submit_verdicts", "input": {"verdicts": [COVERAGE, CLARITY]}},),
        end_early=True,
    )
    simulator.add_script("work3", [Turn(text="# Audit\n- Titles repeat.")])
    simulator.add_script("ended-judge", [cut] * 5)
    agent = graded_agent(client_a, "work3", "ended-judge", retry_attempts=2)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.NOT_GRADED
    assert run.score is None
    assert "the stream ended before the reply finished" in run.error
    assert "Internal error" not in run.error
    assert Grade.objects.get(attempt__run=run).verdicts == []
    assert RunEvent.objects.filter(run=run, type="grade.retry").count() == 1


def test_an_agent_whose_stream_ends_early_never_succeeds(worker, simulator, client_a):
    simulator.add_script("ended-work", [Turn(text="# Audit, cut short", end_early=True)])
    agent = graded_agent(client_a, "ended-work", "never-asked", retry_attempts=2)

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.FAILED
    assert run.error == (
        "The model API kept failing (the stream ended before the reply finished) after 2 attempts."
    )
    assert not Grade.objects.filter(attempt__run=run).exists()
    assert not [r for r in simulator.state.requests if r["body"].get("tool_choice")]


def test_the_dream_trace_is_strict_json_and_cut_for_the_trace():
    sink = _TraceSink()

    sink.emit(
        Event(
            "dream.response",
            {"input": {"weight": float("nan"), "body": "a\x00b", "long": "z" * 10_000}},
        )
    )

    (stored,) = sink.events
    data = json.loads(json.dumps(stored["data"], allow_nan=False))
    assert data["input"]["weight"] == "NaN"
    assert data["input"]["body"] == "a\ufffdb"
    assert len(data["input"]["long"]) == TRACE_TEXT_CHARS
    assert data["input"]["long"].endswith("… [cut]")


def test_the_event_sink_stores_what_json_cannot_hold_as_text(client_a):
    run = make_run(make_agent(client_a))

    services.DatabaseSink(run).emit(
        Event("model.response", {"input": {"score": float("nan"), "big": float("-inf")}})
    )

    stored = RunEvent.objects.get(run=run)
    assert stored.data == {"input": {"score": "NaN", "big": "-Infinity"}}
