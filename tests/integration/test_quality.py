"""Quality metrics and the fleet overview, from graded runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from agents import quality, services
from agents.models import Agent, Run
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db

RUBRIC = """\
floor: 7.5
criteria:
  - {key: all, description: Everything., kind: soft, weight: 1}
"""


def graded(agent, status, score, revisions=0, days=1, cost="0.10", grader="0.02"):
    when = timezone.now() - timedelta(days=days)
    return make_run(
        agent,
        status=status,
        score=score,
        revisions=revisions,
        rubric_version=agent.rubric_versions.get(),
        finished_at=when,
        queued_at=when,
        cost_usd=Decimal(cost),
        grader_cost_usd=Decimal(grader),
    )


def test_metrics_count_first_passes_rescues_failures_and_grader_errors(client_a):
    agent = make_agent(client_a)
    services.save_rubric(agent, RUBRIC, None)
    graded(agent, Run.Status.SUCCEEDED, 9.0)
    graded(agent, Run.Status.SUCCEEDED, 8.0, revisions=1)
    graded(agent, Run.Status.SUCCEEDED, 8.0, revisions=2)
    graded(agent, Run.Status.FAILED_GRADE, 5.0, revisions=2)
    graded(agent, Run.Status.NOT_GRADED, None)
    make_run(agent, status=Run.Status.FAILED, finished_at=timezone.now())  # not a grade

    m = quality.metrics(Run.objects.filter(agent=agent))

    assert (m.graded, m.judged) == (5, 4)
    assert m.first_pass_rate == pytest.approx(1 / 4)
    assert m.pass_after_revision_rate == pytest.approx(2 / 3)  # of the 3 whose first pass failed
    assert m.pass_rate == pytest.approx(3 / 4)
    assert m.mean_grade == pytest.approx((9 + 8 + 8 + 5) / 4)
    assert m.grader_error_rate == pytest.approx(1 / 5)
    # All graded runs' cost (5 x 0.12) over the 3 passing runs.
    assert m.cost_per_passing_run == Decimal("0.2000")


def test_the_fleet_overview_puts_agents_below_their_floor_first(client_a):
    strong = make_agent(client_a, name="Strong")
    weak = make_agent(client_a, name="Weak")
    make_agent(client_a, name="No rubric")
    for agent in (strong, weak):
        services.save_rubric(agent, RUBRIC, None)
    graded(strong, Run.Status.SUCCEEDED, 9.0)
    graded(weak, Run.Status.FAILED_GRADE, 6.0)
    graded(weak, Run.Status.SUCCEEDED, 8.0)
    graded(weak, Run.Status.SUCCEEDED, 10.0, days=9)  # outside the 7 days

    fleet = quality.fleet_overview(client_a.agency_id)

    assert [(h.agent.name, h.average_7d, h.below_floor) for h in fleet["health"]] == [
        ("Weak", 7.0, True),
        ("Strong", 9.0, False),
    ]
    assert fleet["below_floor"] == 1
    assert fleet["week"].pass_rate == pytest.approx(2 / 3)
    assert Agent.objects.count() == 3
