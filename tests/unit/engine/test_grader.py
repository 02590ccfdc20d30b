"""The grader against the simulated Messages API: forced tool call, fail-closed checks."""

from __future__ import annotations

import pytest

from agents.engine.grader import GradeJob, grade, grader_prompt
from agents.engine.rubric import load_rubric
from agents.simulator import Turn
from tests.unit.engine.conftest import GRADER_RUBRIC, grade_job

RUBRIC = GRADER_RUBRIC


job = grade_job


def answer(*verdicts, name="submit_verdicts"):
    return Turn(tool_uses=({"name": name, "input": {"verdicts": list(verdicts)}},))


GOOD = (
    {"key": "gate", "passed": True, "evidence": "acmebakery.test", "feedback": "Fine."},
    {
        "key": "depth",
        "passed": False,
        "score": 6,
        "evidence": "Titles repeat.",
        "feedback": "Which?",
    },
)


def test_a_valid_answer_is_scored_and_priced(simulator, model, sink, clock):
    simulator.add_script("g1", [answer(*GOOD)])

    result = grade(job("g1"), model, sink, clock)

    assert result.graded
    assert result.score == pytest.approx(0.4 * 10 + 0.6 * 6)
    assert result.passed is True  # 7.6 reaches 7.5 and the gate passed
    assert result.verdicts["depth"].feedback == "Which?"
    assert result.calls == 1
    assert result.cost_usd > 0
    assert sink.types() == ["grade.response", "grade.finished"]
    (request,) = [r["body"] for r in simulator.state.requests]
    assert request["tool_choice"] == {"type": "tool", "name": "submit_verdicts"}
    assert request["tools"][0]["input_schema"]["properties"]["verdicts"]["items"]["properties"][
        "key"
    ]["enum"] == ["gate", "depth"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Turn(text="Looks good to me!"), "made 0 submit_verdicts calls"),
        (answer(GOOD[0]), "did not judge: depth"),
        (answer(GOOD[0], {**GOOD[1], "score": 11, "passed": True}), "outside 0 to 10"),
        (answer(GOOD[0], {**GOOD[1], "passed": True}), "says passed=True against its score 6"),
        (answer(GOOD[0], {**GOOD[1], "score": None}), "has no score"),
        (answer(*GOOD, name="other_tool"), "made 0 submit_verdicts calls"),
    ],
)
def test_answers_that_do_not_validate_are_asked_again_then_not_graded(
    simulator, model, sink, clock, bad, message
):
    simulator.add_script("g2", [bad, bad, bad])

    result = grade(job("g2"), model, sink, clock)

    assert not result.graded
    assert result.passed is False
    assert result.score is None
    assert message in result.error
    assert result.calls == 3
    assert sink.types().count("grade.invalid") == 3


def test_one_bad_answer_then_a_good_one_is_graded(simulator, model, sink, clock):
    simulator.add_script("g3", [answer(GOOD[0]), answer(*GOOD)])

    result = grade(job("g3"), model, sink, clock)

    assert result.graded
    assert result.calls == 2
    assert sink.types() == ["grade.response", "grade.invalid", "grade.response", "grade.finished"]


def test_a_refused_request_is_not_graded(simulator, model, sink, clock):
    result = grade(job("no-such-script"), model, sink, clock)

    assert not result.graded
    assert "refused the request" in result.error
    assert result.cost_usd == 0


def test_the_prompt_carries_task_rubric_work_and_bounded_artifacts():
    long = "x" * 10_000
    prompt = grader_prompt(job("g", artifacts=(("report.md", "# Report"), ("big.txt", long))))

    assert "## The task the work was done for\n\nAudit the site." in prompt
    assert '"key": "depth"' in prompt
    assert "## The work to grade\n\n# Audit of acmebakery.test" in prompt
    assert "## File left by the agent: report.md\n\n```\n# Report\n```" in prompt
    assert "x" * 8000 + "\n```\n\n(… 2000 more chars)" in prompt


def test_the_demo_grader_scores_what_the_work_covers_and_a_revision_that_answers_scores_higher(
    simulator, model, sink, clock
):
    from agents.simulator.conversations import generated_turn

    rubric = load_rubric(
        """
criteria:
  - {key: urls, description: Remediation steps reference specific URLs., kind: soft, weight: 1}
"""
    )
    base = job("unused", rubric=rubric, task="Audit the site.")
    thin = grade(GradeJob(**{**base.__dict__, "output": "# Audit\n- Titles repeat."}), model, sink)
    feedback = thin.verdicts["urls"].feedback
    # The generated agent, asked for a revision, answers the feedback it was given.
    revision_prompt = (
        "Audit the site.\n\n## Revision 1 of this run\n\nFix these.\n\n"
        f"- urls (3/10): {feedback}\n\n### Your previous deliverable\n\n# Audit"
    )
    turn = generated_turn({"messages": [{"role": "user", "content": revision_prompt}]})
    better = grade(GradeJob(**{**base.__dict__, "output": turn.text}), model, sink)

    assert not thin.passed
    assert feedback.startswith("Cover this: Remediation steps reference specific URLs")
    assert better.passed
    assert better.score > thin.score
    calls = [r["body"] for r in simulator.state.requests]
    assert [c["tool_choice"]["name"] for c in calls] == ["submit_verdicts"] * 2
