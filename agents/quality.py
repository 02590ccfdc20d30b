"""Quality over time: grade metrics and chart data, read from graded runs.

Pure reads. A run counts here once its grading ended: passed (first pass or
after revision), failed the rubric, or not graded (the grader's answer could
not be trusted). Runs that failed before grading are not grades.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from agents import charts
from agents.engine.rubric import DEFAULT_FLOOR
from agents.models import Agent, Alert, Grade, RubricVersion, Run

GRADED = (Run.Status.SUCCEEDED, Run.Status.FAILED_GRADE, Run.Status.NOT_GRADED)
TREND_DAYS = 120
HEATMAP_RUNS = 30


def graded_runs(runs: QuerySet[Run]) -> QuerySet[Run]:
    return runs.filter(rubric_version__isnull=False, status__in=GRADED)


@dataclass(frozen=True)
class Metrics:
    graded: int
    judged: int
    first_pass_rate: float | None
    pass_after_revision_rate: float | None
    pass_rate: float | None
    mean_grade: float | None
    grader_error_rate: float | None
    cost_per_passing_run: Decimal | None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def metrics(runs: QuerySet[Run]) -> Metrics:
    """First-pass rate, pass-after-revision rate, mean grade, grader errors, cost per pass."""
    passed = Q(status=Run.Status.SUCCEEDED)
    row = graded_runs(runs).aggregate(
        graded=Count("pk"),
        first=Count("pk", filter=passed & Q(revisions=0)),
        revised=Count("pk", filter=passed & Q(revisions__gt=0)),
        failed=Count("pk", filter=Q(status=Run.Status.FAILED_GRADE)),
        errors=Count("pk", filter=Q(status=Run.Status.NOT_GRADED)),
        mean=Avg("score", filter=~Q(status=Run.Status.NOT_GRADED)),
        cost=Sum("cost_usd"),
        grader_cost=Sum("grader_cost_usd"),
    )
    judged = row["first"] + row["revised"] + row["failed"]
    passes = row["first"] + row["revised"]
    spent = (row["cost"] or Decimal(0)) + (row["grader_cost"] or Decimal(0))
    return Metrics(
        graded=row["graded"],
        judged=judged,
        first_pass_rate=_ratio(row["first"], judged),
        # Of the runs whose first pass failed, the share a revision rescued.
        pass_after_revision_rate=_ratio(row["revised"], judged - row["first"]),
        pass_rate=_ratio(passes, judged),
        mean_grade=row["mean"],
        grader_error_rate=_ratio(row["errors"], row["graded"]),
        cost_per_passing_run=(spent / passes).quantize(Decimal("0.0001")) if passes else None,
    )


def grade_points(runs: QuerySet[Run], tz_name: str) -> list[charts.GradePoint]:
    """The graded runs of the last TREND_DAYS as chart points, in the page's time zone."""
    zone = zoneinfo.ZoneInfo(tz_name)
    since = timezone.now() - timedelta(days=TREND_DAYS)
    rows = (
        graded_runs(runs)
        .filter(finished_at__gte=since)
        .select_related("rubric_version")
        .only(
            "finished_at",
            "score",
            "first_pass_score",
            "status",
            "revisions",
            "rubric_version__number",
        )
        .order_by("finished_at")
    )
    points = []
    for run in rows:
        if run.finished_at is None or run.rubric_version is None:
            continue
        outcome = cast(charts.Outcome, run.outcome)
        when = run.finished_at.astimezone(zone)
        points.append(
            charts.GradePoint(
                when,
                run.score if outcome != "not_graded" else None,
                run.first_pass_score,
                outcome,
                run.rubric_version.number,
                label=f"Run {when:%-d %b %H:%M}",
            )
        )
    return points


def heatmap_columns(
    runs: QuerySet[Run], tz_name: str
) -> tuple[list[tuple[str, dict[str, float | None]]], list[str]]:
    """Per-criterion scores of the final attempt of the most recent graded runs."""
    zone = zoneinfo.ZoneInfo(tz_name)
    recent = list(
        graded_runs(runs)
        .exclude(status=Run.Status.NOT_GRADED)
        .order_by("-finished_at")[:HEATMAP_RUNS]
    )
    grades = Grade.objects.filter(attempt__run__in=recent).select_related("attempt")
    final: dict[int, Grade] = {}
    for grade in grades:
        run_id = grade.attempt.run_id
        if run_id not in final or grade.attempt.number > final[run_id].attempt.number:
            final[run_id] = grade
    columns: list[tuple[str, dict[str, float | None]]] = []
    criteria: list[str] = []
    for run in reversed(recent):
        last = final.get(run.pk)
        if last is None or run.finished_at is None:
            continue
        scores: dict[str, float | None] = {}
        for verdict in last.verdicts:
            scores[verdict["key"]] = verdict["score"]
            if verdict["key"] not in criteria:
                criteria.append(verdict["key"])
        columns.append((f"{run.finished_at.astimezone(zone):%-d %b %H:%M}", scores))
    return columns, criteria


def floor_of(version: RubricVersion | None) -> float:
    """The rubric version's score floor (the default floor without a rubric)."""
    return float(version.definition.get("floor", DEFAULT_FLOOR)) if version else DEFAULT_FLOOR


def agent_charts(agent: Agent, tz_name: str, rubric: RubricVersion | None) -> dict[str, Any]:
    """The agent page's quality card: metrics, trend and heatmap payloads.

    `rubric` is the agent's current rubric version, which the page has already read.
    """
    runs = Run.objects.filter(agency_id=agent.agency_id, agent=agent)
    points = grade_points(runs, tz_name)
    columns, criteria = heatmap_columns(runs, tz_name)
    return {
        "metrics": metrics(runs),
        "trend": charts.figure_payload(charts.trend_figure(points, floor_of(rubric)))
        if points
        else None,
        "heatmap": charts.figure_payload(charts.heatmap_figure(columns, criteria))
        if columns
        else None,
    }


@dataclass(frozen=True)
class AgentHealth:
    agent: Agent
    floor: float
    average_7d: float | None
    runs_7d: int

    @property
    def below_floor(self) -> bool:
        return self.average_7d is not None and self.average_7d < self.floor


def fleet_health(agents: QuerySet[Agent], now: datetime | None = None) -> list[AgentHealth]:
    """Each graded agent's 7-day average grade against its floor, weakest first."""
    now = now or timezone.now()
    since = now - timedelta(days=7)
    averages: dict[int, tuple[float | None, int]] = {}
    rows = (
        graded_runs(Run.objects.filter(agent__in=agents, finished_at__gte=since))
        .exclude(status=Run.Status.NOT_GRADED)
        .values("agent_id")
        .annotate(avg=Avg("score"), n=Count("pk"))
    )
    for row in rows:
        averages[row["agent_id"]] = (row["avg"], row["n"])
    health = []
    for agent in agents.prefetch_related("rubric_versions"):
        versions = list(agent.rubric_versions.all())  # newest first (Meta.ordering)
        if not versions:
            continue
        average, count = averages.get(agent.pk, (None, 0))
        health.append(AgentHealth(agent, floor_of(versions[0]), average, count))
    health.sort(key=lambda h: (h.average_7d is None, (h.average_7d or 0) - h.floor))
    return health


def client_series(agents: QuerySet[Agent], tz_name: str) -> dict[str, list[charts.GradePoint]]:
    series: dict[str, list[charts.GradePoint]] = defaultdict(list)
    for agent in agents:
        points = grade_points(Run.objects.filter(agent=agent), tz_name)
        if points:
            series[agent.name] = points
    return dict(series)


def fleet_overview(agency_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The agency overview's quality card: today's runs, 7-day pass rate, weak agents."""
    now = now or timezone.now()
    runs = Run.objects.filter(agency_id=agency_id)
    week = runs.filter(finished_at__gte=now - timedelta(days=7))
    agents = Agent.objects.filter(agency_id=agency_id, archived_at__isnull=True).select_related(
        "client"
    )
    health = fleet_health(agents, now)
    return {
        "runs_today": runs.filter(queued_at__gte=now - timedelta(hours=24)).count(),
        "week": metrics(week),
        "health": health,
        "below_floor": sum(1 for h in health if h.below_floor),
        "open_alerts": Alert.objects.filter(agency_id=agency_id, resolved_at__isnull=True).count(),
    }


def client_quality(agents: QuerySet[Agent], tz_name: str) -> dict[str, Any]:
    """The client page's quality card: metrics over its agents and one line per agent."""
    series = client_series(agents, tz_name)
    return {
        "metrics": metrics(Run.objects.filter(agent__in=agents)),
        "trend": charts.figure_payload(charts.fleet_trend_figure(series)) if series else None,
    }
