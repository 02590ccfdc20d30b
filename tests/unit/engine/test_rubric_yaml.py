"""Hostile rubric text: alias bombs, anchors, deep nesting and oversized documents are
refused with a message, quickly, before anything is expanded."""

from __future__ import annotations

import time

import pytest

from agents.engine.rubric import MAX_DEPTH, MAX_SOURCE_CHARS, RubricError, load_rubric
from bench.yaml_bomb import VALID
from bench.yaml_bomb import bomb as alias_bomb


def problems_of(text: str) -> list[str]:
    with pytest.raises(RubricError) as caught:
        load_rubric(text)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("levels", [1, 8, 9])
def test_an_alias_bomb_is_refused_before_it_expands(levels):
    text = alias_bomb(levels)
    started = time.process_time()
    problems = problems_of(text)
    # Expanding level 8 took seconds of CPU; refusing it takes well under one.
    assert time.process_time() - started < 0.5
    assert problems == [
        "line 1: Not valid YAML: anchors (&name) and aliases (*name) are not allowed in a rubric."
    ]


def test_an_anchor_alone_is_refused_with_its_line():
    text = VALID.replace("floor: 7.5", "floor: &f 7.5")
    assert problems_of(text) == [
        "line 1: Not valid YAML: anchors (&name) and aliases (*name) are not allowed in a rubric."
    ]


def test_an_alias_in_a_criterion_is_refused_with_its_line():
    text = VALID.replace("kind: soft", "kind: *k")
    assert problems_of(text) == [
        "line 10: Not valid YAML: anchors (&name) and aliases (*name) are not allowed in a rubric."
    ]


def test_text_over_the_size_cap_is_refused_without_parsing():
    text = VALID + "#" * (MAX_SOURCE_CHARS - len(VALID) + 1)
    assert problems_of(text) == [
        f"the rubric: The rubric is {MAX_SOURCE_CHARS + 1:,} characters long; "
        f"the limit is {MAX_SOURCE_CHARS:,}."
    ]


def test_text_at_the_size_cap_still_loads():
    text = VALID + "#" * (MAX_SOURCE_CHARS - len(VALID))
    assert len(text) == MAX_SOURCE_CHARS
    assert [c.key for c in load_rubric(text).criteria] == ["complete", "actionable"]


def test_deep_nesting_is_refused_not_a_recursion_error():
    assert problems_of("[" * MAX_SOURCE_CHARS) == [
        f"line 1: Not valid YAML: nested more than {MAX_DEPTH} levels deep."
    ]
    assert problems_of("a:\n" + "".join(f"{' ' * n}b{n}:\n" for n in range(1, 40))) == [
        f"line {MAX_DEPTH}: Not valid YAML: nested more than {MAX_DEPTH} levels deep."
    ]


def test_merge_keys_need_aliases_and_are_refused_too():
    text = (
        VALID.replace("  - key: actionable", "  - &base\n    key: actionable")
        + "  - <<: *base\n    key: other\n"
    )
    assert "not allowed in a rubric" in problems_of(text)[0]


@pytest.mark.parametrize("cap", [".inf", ".nan", "-.inf", "0", "'lots'"])
def test_the_revision_cost_cap_must_be_a_finite_amount(cap):
    assert problems_of(f"revision_cost_cap_usd: {cap}\n" + VALID) == [
        "line 1, revision_cost_cap_usd: Must be an amount in USD above 0, e.g. 0.50."
    ]
