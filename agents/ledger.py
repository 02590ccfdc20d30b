"""What a run has spent, summed from its trace: the agent's calls and the grader's apart.

The trace is the ledger: every model call is one RunEvent with its tokens and
cost, written as it happens, so an attempt whose worker died still counts, and
counts once. Grader calls are the `grade.*` events.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Q, Sum

from agents.models import Run, RunEvent

GRADER_EVENTS = Q(type__startswith="grade.")


def trace_totals(run: Run) -> dict[str, Any]:
    """The run's spend from its trace, in one query, as Run field values.

    The agent's tokens and model cost (every attempt, every claim) in the usual
    fields; the grader's apart, its input kinds together, in the grader_* fields.
    """
    agent, grader = ~GRADER_EVENTS, GRADER_EVENTS
    # Aliases differ from the field names: an aggregate named like a field would
    # shadow it for the grader's F() sum.
    sums = RunEvent.objects.filter(run=run).aggregate(
        agent_in=Sum("input_tokens", filter=agent),
        agent_out=Sum("output_tokens", filter=agent),
        agent_cache_write=Sum("cache_write_tokens", filter=agent),
        agent_cache_read=Sum("cache_read_tokens", filter=agent),
        agent_cost=Sum("cost_usd", filter=agent),
        grader_in=Sum(
            F("input_tokens") + F("cache_write_tokens") + F("cache_read_tokens"), filter=grader
        ),
        grader_out=Sum("output_tokens", filter=grader),
        grader_cost=Sum("cost_usd", filter=grader),
    )
    fields = {
        "input_tokens": "agent_in",
        "output_tokens": "agent_out",
        "cache_write_tokens": "agent_cache_write",
        "cache_read_tokens": "agent_cache_read",
        "cost_usd": "agent_cost",
        "grader_input_tokens": "grader_in",
        "grader_output_tokens": "grader_out",
        "grader_cost_usd": "grader_cost",
    }
    return {field: sums[alias] or 0 for field, alias in fields.items()}


def remaining_runtime(run: Run) -> float:
    """Seconds left of the run's maximum runtime, counted from when it first started.

    A claim after a lost worker, or a revision pass, does not start the clock anew.
    """
    return float(run.version.definition["max_runtime_seconds"]) - (run.duration_seconds or 0.0)
