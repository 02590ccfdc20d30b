"""The grader's answer at the boundary (`parse_verdicts`): every bad verdict fails closed.

And rubric numbers (`_number`): NaN and infinity never load, so never reach a JSON column.
"""

from __future__ import annotations

import json
import re

import pytest

from agents.engine.rubric import (
    CUT,
    VERDICT_TEXT_CHARS,
    GraderOutputError,
    RubricError,
    load_rubric,
    overall_score,
    parse_verdicts,
    rubric_data,
)

RUBRIC = load_rubric(
    """
floor: 7.5
criteria:
  - {key: gate, description: The report names the site., kind: hard, weight: 0.4}
  - {key: depth, description: Findings are specific., kind: soft, weight: 0.6}
"""
)


def answer(gate=None, depth=None):
    """A valid answer (gate passed, depth 8), with the given fields of each verdict changed."""
    return {
        "verdicts": [
            {
                "key": "gate",
                "passed": True,
                "evidence": "acmebakery.test",
                "feedback": "Fine.",
                **(gate or {}),
            },
            {
                "key": "depth",
                "passed": True,
                "score": 8,
                "evidence": "Titles repeat.",
                "feedback": "Say which titles.",
                **(depth or {}),
            },
        ]
    }


def without(verdict_index, field):
    raw = answer()
    del raw["verdicts"][verdict_index][field]
    return raw


def test_a_valid_answer_parses():
    verdicts = parse_verdicts(RUBRIC, answer())

    assert verdicts["gate"].score == 10.0
    assert verdicts["depth"].score == 8.0
    assert overall_score(RUBRIC, verdicts) == pytest.approx(0.4 * 10 + 0.6 * 8)


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        # The bugs of the issue: each of these used to pass the gate as 10.
        ({"passed": True, "score": 0}, "says passed=True against its score 0 and the floor 7.5"),
        ({"passed": True, "score": 101}, "scored 101, outside 0 to 10"),
        ({"passed": True, "score": -1e308}, "scored -1e+308, outside 0 to 10"),
        ({"passed": True, "score": "10"}, "score that is not a number: '10'"),
        ({"passed": True, "score": float("nan")}, "scored nan, not a finite number"),
        ({"passed": True, "score": float("inf")}, "scored inf, not a finite number"),
        ({"passed": False, "score": float("-inf")}, "scored -inf, not a finite number"),
        # The sanitised form of a NaN the model sent (see llm.json_safe).
        ({"passed": True, "score": "NaN"}, "score that is not a number: 'NaN'"),
        ({"passed": True, "score": 7}, "says passed=True against its score 7"),
        ({"passed": False, "score": 10}, "says passed=False against its score 10"),
        ({"passed": False, "score": 8}, "says passed=False against its score 8"),
        ({"passed": True, "score": None}, "has no score"),
        ({"passed": True, "score": True}, "score that is not a number: True"),
        ({"passed": True, "score": [10]}, "score that is not a number: [10]"),
        ({"passed": True, "score": 10**400}, "scored a huge number, outside 0 to 10"),
    ],
)
def test_a_hard_criterion_score_must_be_a_number_in_range_that_agrees_with_its_flag(gate, message):
    with pytest.raises(GraderOutputError, match=re.escape(message)):
        parse_verdicts(RUBRIC, answer(gate=gate))


@pytest.mark.parametrize(
    ("gate", "score"),
    [
        ({}, 10.0),  # no score: the flag decides
        ({"score": 10}, 10.0),
        ({"score": 7.5}, 10.0),  # agrees (at the floor); a gate still counts 10
        ({"passed": False, "score": 0}, 0.0),
        ({"passed": False, "score": 3.5}, 0.0),
        ({"passed": False}, 0.0),
    ],
)
def test_a_hard_criterion_with_an_agreeing_score_or_none_counts_10_or_0(gate, score):
    assert parse_verdicts(RUBRIC, answer(gate=gate))["gate"].score == score


def test_a_failed_gate_scored_0_agrees_even_with_a_floor_of_0():
    rubric = load_rubric(
        "floor: 0\ncriteria:\n  - {key: gate, description: Named., kind: hard, weight: 1}\n"
    )
    raw = {
        "verdicts": [
            {
                "key": "gate",
                "passed": False,
                "score": 0,
                "evidence": "None.",
                "feedback": "Name it.",
            }
        ]
    }

    assert parse_verdicts(rubric, raw)["gate"].passed is False


@pytest.mark.parametrize(
    ("depth", "message"),
    [
        ({"score": float("nan")}, "not a finite number"),
        ({"score": float("inf")}, "not a finite number"),
        ({"score": "8"}, "not a number: '8'"),
        ({"score": "Infinity"}, "not a number: 'Infinity'"),
        ({"score": False, "passed": False}, "not a number: False"),
        ({"score": 10.01}, "outside 0 to 10"),
        ({"score": -0.5, "passed": False}, "outside 0 to 10"),
        ({"score": None}, "has no score"),
        ({"score": 7, "passed": True}, "says passed=True against its score 7"),
    ],
)
def test_a_soft_criterion_score_is_required_finite_in_range_and_agreeing(depth, message):
    with pytest.raises(GraderOutputError, match=message):
        parse_verdicts(RUBRIC, answer(depth=depth))

    with pytest.raises(GraderOutputError, match="has no score"):
        parse_verdicts(RUBRIC, without(1, "score"))


@pytest.mark.parametrize("field", ["evidence", "feedback"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "has blank"),
        ("   \n\t ", "has blank"),
        # strip() keeps these, and none of them says anything: still blank.
        ("\u200b", "has blank"),
        ("\ufeff", "has blank"),
        ("\ufffd", "has blank"),  # what json_safe makes of a NUL
        (" \u200b\ufeff\u2060 ", "has blank"),
        ("...", "has blank"),
        ("- \u2014 * ?", "has blank"),
        (None, "lacks"),
        (5, "lacks"),
        (["a quote"], "lacks"),
    ],
)
def test_evidence_and_feedback_must_be_non_blank_text(field, value, message):
    with pytest.raises(GraderOutputError, match=f"Criterion 'gate' {message} {field}"):
        parse_verdicts(RUBRIC, answer(gate={field: value}))

    with pytest.raises(GraderOutputError, match=f"lacks {field}"):
        parse_verdicts(RUBRIC, without(1, field))


@pytest.mark.parametrize("feedback", [" ", "\u200b", "\ufffd\ufffd", "…"])
def test_a_failing_criterion_without_feedback_is_a_grader_error(feedback):
    with pytest.raises(GraderOutputError, match="'depth' failed without feedback to act on"):
        parse_verdicts(RUBRIC, answer(depth={"passed": False, "score": 3, "feedback": feedback}))


@pytest.mark.parametrize(
    "text", ["Заголовки повторяются.", "标题重复", "٣ pages", "7", "\u200bx\u200b", "N/A"]
)
def test_evidence_and_feedback_with_a_letter_or_digit_in_any_script_are_not_blank(text):
    verdicts = parse_verdicts(RUBRIC, answer(gate={"evidence": text, "feedback": text}))

    assert verdicts["gate"].evidence == verdicts["gate"].feedback == text


def test_evidence_need_not_be_verbatim_and_is_kept_trimmed():
    verdicts = parse_verdicts(
        RUBRIC, answer(gate={"evidence": "  The report names the site in its title.\n"})
    )

    assert verdicts["gate"].evidence == "The report names the site in its title."


def test_evidence_and_feedback_are_cut_to_2000_characters_with_a_visible_marker():
    huge = "x" * 5_000_000
    exact = "y" * VERDICT_TEXT_CHARS

    verdicts = parse_verdicts(RUBRIC, answer(gate={"evidence": huge, "feedback": exact}))

    evidence = verdicts["gate"].evidence
    assert len(evidence) == VERDICT_TEXT_CHARS == 2_000
    assert evidence.endswith("… [cut]")
    assert evidence == "x" * (2_000 - len(CUT)) + CUT
    assert verdicts["gate"].feedback == exact  # at the limit: kept whole


def test_error_messages_stay_short_whatever_the_model_sent():
    raw = answer()
    raw["verdicts"][0]["key"] = "k" * 1_000_000

    with pytest.raises(GraderOutputError) as caught:
        parse_verdicts(RUBRIC, raw)

    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("line", "path", "words"),
    [
        ("floor: .nan", "floor", "finite number from 0 up to 10; it is not a number (NaN)"),
        ("floor: .inf", "floor", "finite number from 0 up to 10; it is infinite"),
        ("floor: -.inf", "floor", "it is infinite"),
        ("regrade_margin: .nan", "regrade_margin", "it is not a number (NaN)"),
        ("floor: " + "9" * 400, "floor", "it is far too large"),
    ],
)
def test_rubric_numbers_must_be_finite(line, path, words):
    text = f"{line}\ncriteria:\n  - {{key: a, description: A., kind: soft, weight: 1}}\n"

    with pytest.raises(RubricError) as caught:
        load_rubric(text)

    (problem,) = caught.value.problems
    assert problem.path == path
    assert words in problem.message


@pytest.mark.parametrize("weight", [".nan", ".inf"])
def test_a_criterion_weight_must_be_finite(weight):
    text = (
        "criteria:\n"
        f"  - {{key: a, description: A., kind: soft, weight: {weight}}}\n"
        "  - {key: b, description: B., kind: soft, weight: 0.5}\n"
    )

    with pytest.raises(RubricError) as caught:
        load_rubric(text)

    assert caught.value.problems[0].path == "criteria[0].weight"
    assert "finite number above 0 up to 1" in caught.value.problems[0].message


def test_a_loaded_rubric_is_strict_json():
    # allow_nan=False: what a JSON column (and the JSON spec) accepts.
    assert json.loads(json.dumps(rubric_data(RUBRIC), allow_nan=False))["floor"] == 7.5
