"""Cost sums for pages: per calendar month (UTC), from runs' and dreams' recorded cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from agents.models import Dream, Run


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class MonthCost:
    month: date
    runs: int
    # The agent's calls and runtime, and the grader's calls.
    run_cost: Decimal
    dreams: int
    dream_cost: Decimal

    @property
    def total(self) -> Decimal:
        return self.run_cost + self.dream_cost


def _by_month(
    rows: QuerySet[Run] | QuerySet[Dream], stamp: str, cost: Any, first: datetime
) -> dict[date, tuple[Decimal, int]]:
    grouped = (
        rows.filter(**{f"{stamp}__gte": first})
        .annotate(month=TruncMonth(stamp, tzinfo=UTC))
        .values("month")
        .annotate(total=Sum(cost), count=Sum(1))
    )
    return {row["month"].date(): (row["total"] or Decimal(0), row["count"]) for row in grouped}


def monthly_costs(runs: QuerySet[Run], dreams: QuerySet[Dream], months: int = 6) -> list[MonthCost]:
    """The last `months` months, newest first, zeros included."""
    start = month_start()
    first = start
    for _ in range(months - 1):
        first = (first.replace(day=1) - timedelta(days=1)).replace(day=1)
    run_months = _by_month(runs, "queued_at", F("cost_usd") + F("grader_cost_usd"), first)
    dream_months = _by_month(dreams, "queued_at", "cost_usd", first)
    result = []
    month = start
    zero = (Decimal(0), 0)
    for _ in range(months):
        run_cost, run_count = run_months.get(month.date(), zero)
        dream_cost, dream_count = dream_months.get(month.date(), zero)
        result.append(MonthCost(month.date(), run_count, run_cost, dream_count, dream_cost))
        month = (month - timedelta(days=1)).replace(day=1)
    return result
