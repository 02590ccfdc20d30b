"""Rubrics: loading with precise errors, and grades that fail closed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.engine.rubric import (
    GraderOutputError,
    RubricError,
    attempt_passes,
    dump_rubric,
    load_rubric,
    overall_score,
    parse_verdicts,
    rubric_as_json,
)

SEO = """\
floor: 7.5
max_revisions: 2
revision_cost_cap_usd: 0.50
criteria:
  - key: one_finding_per_dimension
    description: One finding per audited dimension.
    kind: hard
    weight: 0.2
  - key: concrete_remediation
    description: Concrete remediation steps that reference specific URLs.
    kind: soft
    weight: 0.3
    bands: {"8-10": "every step names a URL", "0-4": "generic advice"}
  - key: deduplicated
    description: Deduplicated against last week.
    kind: soft
    weight: 0.2
  - key: client_voice
    description: Tone matches the client's voice.
    kind: soft
    weight: 0.1
  - key: no_out_of_scope_writes
    description: No out-of-scope writes.
    kind: hard
    weight: 0.2
"""


def verdict(key, score=None, passed=True):
    item = {"key": key, "passed": passed, "evidence": "quote", "feedback": "do this"}
    if score is not None:
        item["score"] = score
    return item


def all_verdicts(soft=9.0, hard=True):
    rubric = load_rubric(SEO)
    return {
        "verdicts": [
            verdict(
                c.key, None if c.kind == "hard" else soft, hard if c.kind == "hard" else soft >= 7.5
            )
            for c in rubric.criteria
        ]
    }


def test_the_documented_seo_rubric_loads_and_round_trips_through_yaml_and_json():
    rubric = load_rubric(SEO)

    assert rubric.criteria[0].key == "one_finding_per_dimension"
    assert [c.kind for c in rubric.criteria] == ["hard", "soft", "soft", "soft", "hard"]
    assert rubric.revision_cost_cap_usd == Decimal("0.50")
    assert load_rubric(dump_rubric(rubric)) == rubric
    assert load_rubric(rubric_as_json(rubric)) == rubric


@pytest.mark.parametrize(
    ("text", "line", "path", "words"),
    [
        (SEO.replace("weight: 0.3", "weight: 3"), 12, "criteria[1].weight", "up to 1"),
        (
            SEO.replace("kind: soft\n    weight: 0.2", "kind: maybe\n    weight: 0.2"),
            16,
            "criteria[2].kind",
            "`hard`",
        ),
        (
            SEO.replace("key: client_voice", "key: deduplicated"),
            18,
            "criteria[3].key",
            "used twice",
        ),
        (SEO.replace("floor: 7.5", "floor: eleven"), 1, "floor", "a number"),
        (SEO.replace("weight: 0.1", "weight: 0.2"), 4, "criteria", "add up to 1.1"),
        (SEO + "colour: blue\n", 26, "colour", "Unknown field"),
        ("criteria: [\n", 2, "", "Not valid YAML"),
    ],
)
def test_every_problem_names_its_line_and_field(text, line, path, words):
    with pytest.raises(RubricError) as caught:
        load_rubric(text)

    problem = caught.value.problems[0]
    assert (problem.line, problem.path) == (line, path)
    assert words in problem.message


def test_scores_are_the_weighted_mean_and_pass_needs_every_gate_and_the_floor():
    rubric = load_rubric(SEO)

    good = parse_verdicts(rubric, all_verdicts(soft=9.0))
    gate_failed = parse_verdicts(rubric, all_verdicts(soft=10.0, hard=False))
    low = parse_verdicts(rubric, all_verdicts(soft=5.0))

    assert overall_score(rubric, good) == pytest.approx(0.4 * 10 + 0.6 * 9)
    assert attempt_passes(rubric, good)
    assert overall_score(rubric, gate_failed) == pytest.approx(6.0)
    assert not attempt_passes(rubric, gate_failed)
    assert overall_score(rubric, low) == pytest.approx(4 + 3)
    assert not attempt_passes(rubric, low)


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda v: v["verdicts"].pop(), "did not judge: no_out_of_scope_writes"),
        (lambda v: v["verdicts"][1].update(score=11), "outside 0 to 10"),
        (lambda v: v["verdicts"][1].pop("score"), "has no score"),
        (lambda v: v["verdicts"][1].update(passed=False), "passed=False against its score 9"),
        (lambda v: v["verdicts"][0].pop("passed"), "has no pass or fail"),
        (lambda v: v["verdicts"].append(dict(v["verdicts"][0])), "judged twice"),
        (lambda v: v["verdicts"][0].update(key="made_up"), "unknown criterion"),
        (lambda v: v.pop("verdicts"), "no list of verdicts"),
        (lambda v: v["verdicts"][2].update(evidence=None), "lacks evidence"),
    ],
)
def test_a_doubtful_grader_answer_is_an_error_never_a_pass(tamper, message):
    rubric = load_rubric(SEO)
    raw = all_verdicts(soft=9.0)
    tamper(raw)

    with pytest.raises(GraderOutputError, match=message):
        parse_verdicts(rubric, raw)
