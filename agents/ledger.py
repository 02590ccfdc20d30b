"""What a run has spent, summed from its trace: the agent's calls and the grader's apart.

The trace is the ledger: every model call is one RunEvent with its tokens and
cost, written as it happens, so an attempt whose worker died still counts, and
counts once. Grader calls are the `grade.*` events.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from agents.models import Run, RunEvent

GRADER_EVENTS = Q(type__startswith="grade.")


def trace_totals(run: Run) -> dict[str, Any]:
    """The agent's tokens and model cost, every attempt included, the grader's excluded."""
    totals = (
        RunEvent.objects.filter(run=run)
        .exclude(GRADER_EVENTS)
        .aggregate(
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cache_write_tokens=Sum("cache_write_tokens"),
            cache_read_tokens=Sum("cache_read_tokens"),
            cost_usd=Sum("cost_usd"),
        )
    )
    return {name: value or 0 for name, value in totals.items()}


def grader_totals(run: Run) -> dict[str, Any]:
    """The grader's tokens (all input kinds together) and cost."""
    totals = RunEvent.objects.filter(GRADER_EVENTS, run=run).aggregate(
        input=Sum("input_tokens"),
        cache_write=Sum("cache_write_tokens"),
        cache_read=Sum("cache_read_tokens"),
        output=Sum("output_tokens"),
        cost=Sum("cost_usd"),
    )
    values = {name: value or 0 for name, value in totals.items()}
    return {
        "grader_input_tokens": values["input"] + values["cache_write"] + values["cache_read"],
        "grader_output_tokens": values["output"],
        "grader_cost_usd": values["cost"],
    }


def elapsed(run: Run) -> float:
    """Seconds since the run first started (a later claim does not restart the clock)."""
    started = run.started_at or timezone.now()
    return (timezone.now() - started).total_seconds()
