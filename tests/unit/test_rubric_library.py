"""The starter rubrics load, add up, and say what they are."""

from __future__ import annotations

import dataclasses

import pytest

from agents.engine.rubric import load_rubric
from agents.rubric_library import Starter, starter, starters

SLUGS = {"seo_audit", "competitor_watch", "lead_enrichment", "weekly_client_report"}


def test_there_are_four_starters_sorted_by_title():
    found = starters()

    assert {s.slug for s in found} == SLUGS
    assert [s.title for s in found] == [
        "Competitor watch",
        "Lead enrichment",
        "SEO audit",
        "Weekly client report",
    ]


@pytest.mark.parametrize("slug", sorted(SLUGS))
def test_every_starter_loads_and_its_weights_add_up(slug):
    found = starter(slug)
    assert found is not None

    rubric = load_rubric(found.text)

    assert sum(c.weight for c in rubric.criteria) == pytest.approx(1)
    assert rubric.floor == 7.5
    assert found.summary
    assert found.text.startswith(f"# title: {found.title}\n# summary: {found.summary}\n")
    for criterion in rubric.criteria:
        # Bands belong to soft criteria only, and every soft criterion has them.
        assert bool(criterion.bands) == (criterion.kind == "soft"), criterion.key


def test_the_seo_audit_has_exactly_its_five_criteria():
    found = starter("seo_audit")
    assert found is not None

    rubric = load_rubric(found.text)

    assert [(c.key, c.kind, c.weight) for c in rubric.criteria] == [
        ("one_finding_per_dimension", "hard", 0.2),
        ("remediation_references_urls", "soft", 0.3),
        ("deduplicated_against_last_week", "soft", 0.2),
        ("tone_matches_client_voice", "soft", 0.1),
        ("no_out_of_scope_writes", "hard", 0.2),
    ]
    assert found.title == "SEO audit"


def test_an_unknown_slug_is_none():
    assert starter("nope") is None
    assert starter("") is None


def test_starters_are_values():
    first = starters()[0]

    assert isinstance(first, Starter)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.title = "changed"
