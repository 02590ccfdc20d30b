"""Cost sums for pages: per calendar month (UTC), from the runs' recorded cost."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from agents.models import Run


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_costs(runs: QuerySet[Run], months: int = 6) -> list[tuple[date, Decimal, int]]:
    """(month, total cost, run count) for the last `months` months, newest first, zeros included."""
    start = month_start()
    first = start
    for _ in range(months - 1):
        first = (first.replace(day=1) - timedelta(days=1)).replace(day=1)
    rows = (
        runs.filter(queued_at__gte=first)
        .annotate(month=TruncMonth("queued_at", tzinfo=UTC))
        .values("month")
        .annotate(total=Sum("cost_usd"), count=Sum(1))
    )
    by_month = {row["month"].date(): (row["total"] or Decimal(0), row["count"]) for row in rows}
    result = []
    month = start
    for _ in range(months):
        total, count = by_month.get(month.date(), (Decimal(0), 0))
        result.append((month.date(), total, count))
        month = (month - timedelta(days=1)).replace(day=1)
    return result
