"""Dreams: the scheduled pass that curates an agent's memory from its graded runs.

Each dreaming agent has a PeriodicTask `dream:<public_id>` on its own schedule
(default weekly, at a night-time slot derived from the agent's id, so a fleet
is spread over the week). A fire creates a Dream row once per slot; the task
claims it like a run, reads the store and the runs since the last dream,
asks the model (agents/engine/dreaming.py) and then, change by change:
refuses what breaks grade weighting or the leak check, and applies or queues
the rest by the agent's review mode. Its spend is kept on the Dream and
counted in the client's costs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from agents import grading
from agents import memory as memories
from agents.engine.dreaming import DreamJob, RunDigest, dream, refusal
from agents.engine.llm import ModelClient
from agents.engine.loop import redact
from agents.engine.types import Event, RetryPolicy
from agents.models import Agent, Dream, Grade, MemoryProposal, ModelPrice, Run
from agents.scheduling import (
    ScheduleError,
    agent_timezone,
    crontab_of,
    describe,
    disable_task,
    format_fire,
    next_fires,
    parse_schedule,
)
from clients.services import ServiceError

if TYPE_CHECKING:
    from clients.models import User

logger = logging.getLogger(__name__)

# Runs a dream reads at most (the hosted product's limit too).
MAX_RUNS = 100
# Statuses of runs worth learning from: they produced graded or ungraded work.
READ_STATUSES = (
    Run.Status.SUCCEEDED,
    Run.Status.FAILED_GRADE,
    Run.Status.NOT_GRADED,
    Run.Status.FAILED,
    Run.Status.TIMED_OUT,
)


# ------------------------------------------------------------------ schedule


def default_dream_schedule(agent: Agent) -> str:
    """Weekly, between 01:00 and 05:59, on a day and minute fixed by the agent's id."""
    digest = int(hashlib.sha256(str(agent.public_id).encode()).hexdigest()[:8], 16)
    minute = digest % 60
    hour = 1 + (digest // 60) % 5
    weekday = (digest // 300) % 7
    return f"{minute} {hour} * * {weekday}"


def dream_schedule_of(agent: Agent) -> str:
    return agent.dream_schedule or default_dream_schedule(agent)


def describe_dream_schedule(agent: Agent) -> str:
    """ "Off", or the dream schedule in words with its next fire, for pages."""
    if not agent.dreaming_enabled:
        return "Off"
    try:
        schedule = parse_schedule(dream_schedule_of(agent), agent_timezone(agent))
    except ScheduleError:
        return f"{dream_schedule_of(agent)} (not a valid schedule)"
    default = "" if agent.dream_schedule else " (default, staggered)"
    return f"{describe(schedule)}{default}; next {format_fire(next_fires(schedule, 1)[0])}"


def dream_task_name(agent: Agent) -> str:
    return f"dream:{agent.public_id}"


def sync_dream_schedule(agent: Agent) -> None:
    """Create, update or disable the agent's dream PeriodicTask (inside the save's transaction)."""
    existing = PeriodicTask.objects.filter(name=dream_task_name(agent)).first()
    active = (
        agent.dreaming_enabled and agent.archived_at is None and agent.client.archived_at is None
    )
    if not active:
        disable_task(existing)
        return
    try:
        crontab = crontab_of(parse_schedule(dream_schedule_of(agent), agent_timezone(agent)))
    except ScheduleError as exc:
        # Saved before a check that now refuses it: stop dreaming on it, don't fail the save.
        logger.warning("Agent %s: dream schedule turned off: %s", agent.public_id, exc)
        disable_task(existing)
        return
    task = existing or PeriodicTask(name=dream_task_name(agent), task="agents.tasks.fire_dream")
    task.crontab = crontab
    task.kwargs = json.dumps({"agent_id": agent.pk})
    task.enabled = True
    task.description = f"Dream: {agent.name} for {agent.client.name}"
    task.save()


# ------------------------------------------------------------------ starting one


def request_dream(agent: Agent, by: User | None) -> Dream:
    """ "Dream now": queue a dream unless one is queued or running for this agent."""
    if agent.archived_at is not None:
        raise ServiceError("This agent is archived.")
    from agents.tasks import execute_dream

    with transaction.atomic():
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
        if Dream.objects.filter(
            agent=agent, status__in=(Dream.Status.QUEUED, Dream.Status.RUNNING)
        ).exists():
            raise ServiceError("A dream of this agent is already under way.")
        item = Dream.objects.create(
            agency=agent.agency, agent=agent, trigger=Dream.Trigger.MANUAL, triggered_by=by
        )
        execute_dream.delay_on_commit(item.pk)  # type: ignore[attr-defined]
    return item


def fire_dream(agent_id: int, fired_at: datetime | None = None) -> Dream | None:
    """Beat's fire: one dream per schedule slot (a duplicate fire creates nothing)."""
    from agents.tasks import execute_dream

    agent = Agent.objects.select_related("client").filter(pk=agent_id).first()
    if (
        agent is None
        or not agent.dreaming_enabled
        or agent.archived_at is not None
        or agent.client.archived_at is not None
    ):
        return None
    fired_at = (fired_at or timezone.now()).replace(second=0, microsecond=0)
    try:
        with transaction.atomic():
            item = Dream.objects.create(
                agency=agent.agency,
                agent=agent,
                trigger=Dream.Trigger.SCHEDULE,
                scheduled_for=fired_at,
            )
            execute_dream.delay_on_commit(item.pk)  # type: ignore[attr-defined]
    except IntegrityError:
        return None
    return item


# ------------------------------------------------------------------ the sweeper

# A dream running this long lost its worker; queued this long, its message was lost.
STUCK_AFTER = timedelta(minutes=30)
REDISPATCH_AFTER = timedelta(minutes=10)


def sweep_stuck_dreams(now: datetime | None = None) -> tuple[int, int]:
    """End dreams a lost worker left running, re-send lost queued ones: (ended, resent)."""
    from agents.tasks import execute_dream

    now = now or timezone.now()
    ended = Dream.objects.filter(
        status=Dream.Status.RUNNING, started_at__lt=now - STUCK_AFTER
    ).update(
        status=Dream.Status.FAILED,
        finished_at=now,
        error="The worker running this dream stopped responding; the sweeper ended it. "
        "Changes it had already made are listed here; nothing else was changed.",
    )
    resent = 0
    for dream_id in Dream.objects.filter(
        status=Dream.Status.QUEUED, queued_at__lt=now - REDISPATCH_AFTER
    ).values_list("pk", flat=True):
        execute_dream.delay(dream_id)
        resent += 1
    return ended, resent


# ------------------------------------------------------------------ running one


class _TraceSink:
    """Keeps a dream's events (its model calls) for its page and its cost."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Event) -> None:
        # Strict JSON (as every event sink makes it), then each string cut for the
        # trace: the dream's emit has redacted it already, so no cut splits a secret.
        from agents.engine.forced import TRACE_TEXT_CHARS
        from agents.engine.llm import json_safe
        from agents.engine.loop import capped

        usage = event.usage
        self.events.append(
            {
                "type": event.type,
                "data": capped(json_safe(event.data), TRACE_TEXT_CHARS),
                "input_tokens": usage.prompt_tokens if usage else 0,
                "output_tokens": usage.output_tokens if usage else 0,
                "cost_usd": str(event.cost_usd),
                "duration_ms": event.duration_ms,
                "at": timezone.now().isoformat(),
            }
        )


def runs_to_read(agent: Agent, before: Dream) -> list[Run]:
    """Finished runs since the last dream that read any, newest first, at most MAX_RUNS."""
    last = (
        Dream.objects.filter(
            agent=agent, status__in=(Dream.Status.COMPLETED, Dream.Status.NO_CHANGE)
        )
        .exclude(pk=before.pk)
        .order_by("-started_at")
        .first()
    )
    runs = Run.objects.filter(agent=agent, status__in=READ_STATUSES, finished_at__isnull=False)
    if last is not None and last.started_at is not None:
        runs = runs.filter(finished_at__gt=last.started_at)
    return list(runs.order_by("-finished_at")[:MAX_RUNS])


def digests_of(runs: list[Run]) -> list[RunDigest]:
    """The runs as the dream reads them: status, score, each failed criterion with its
    feedback. All their grades in one query."""
    grades: dict[int, list[Grade]] = {run.pk: [] for run in runs}
    for grade in (
        Grade.objects.filter(attempt__run__in=runs)
        .select_related("attempt")
        .order_by("attempt__number", "pk")
    ):
        grades[grade.attempt.run_id].append(grade)
    digests = []
    for run in runs:
        final = next(
            (
                g
                for g in reversed(grades[run.pk])
                if run.rubric_version_id and g.rubric_version_id == run.rubric_version_id
            ),
            None,
        )
        # Criteria that a revision fixed were failures too: the first pass's misses teach most.
        failed: dict[str, str] = {}
        for grade in grades[run.pk]:
            for verdict in grade.verdicts:
                if not verdict["passed"]:
                    failed.setdefault(verdict["key"], verdict["feedback"])
        digests.append(
            RunDigest(
                id=str(run.public_id),
                finished=f"{run.finished_at:%Y-%m-%d %H:%M}" if run.finished_at else "",
                status=run.status,
                score=final.score if final else run.score,
                met_floor=run.status == Run.Status.SUCCEEDED,
                failed=tuple(failed.items()),
                output=run.output,
            )
        )
    return digests


def _claim(dream_id: int) -> Dream | None:
    claimed = Dream.objects.filter(pk=dream_id, status=Dream.Status.QUEUED).update(
        status=Dream.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    return Dream.objects.select_related("agent__client", "agent__model").get(pk=dream_id)


def execute_dream(dream_id: int, client: ModelClient | None = None) -> None:
    """Run a queued dream to its end; a second delivery finds it claimed and does nothing.

    `client` defaults to the configured model endpoint (the demo's seeding passes
    one pointed at a simulator of its own).
    """
    item = _claim(dream_id)
    if item is None:
        return
    try:
        _dream(item, client)
    except Exception:  # a bug must not leave the dream running forever
        logger.exception("Dream %s crashed", item.public_id)
        Dream.objects.filter(pk=item.pk, status=Dream.Status.RUNNING).update(
            status=Dream.Status.FAILED,
            finished_at=timezone.now(),
            error="Internal error; it was logged. Nothing was changed.",
        )


def _finish(item: Dream, status: str, **fields: Any) -> None:
    for name, value in {"status": status, "finished_at": timezone.now(), **fields}.items():
        setattr(item, name, value)
    item.save()


def _dream(item: Dream, client: ModelClient | None) -> None:
    from agents import services

    agent = item.agent
    store = memories.store_of(agent)
    model = agent.dream_model or agent.model
    item.model = model.model
    item.review_mode = agent.memory_review_mode
    runs = runs_to_read(agent, item)
    notes = [memories.note_of(m) for m in memories.live_memories(store)]
    item.notes_read = len(notes)
    if not runs:
        _finish(
            item,
            Dream.Status.NO_CHANGE,
            reason="No runs finished since the last dream, so there was nothing to learn from. "
            "No model call was made.",
        )
        return
    rubric = grading.current_rubric(agent.pk)
    floor = grading.rubric_of(rubric).floor if rubric else None
    digests = digests_of(runs)
    secrets = services.secrets_of(agent)
    job = DreamJob(
        model=model.model,
        price=ModelPrice.engine_price(model),
        task=agent.instructions,
        notes=tuple(notes),
        runs=tuple(digests),
        floor=floor,
        token_budget=agent.dream_token_budget,
        retry=RetryPolicy(
            attempts=agent.retry_attempts, base_backoff=float(agent.retry_backoff_seconds)
        ),
        secrets=secrets,
    )
    if client is None:
        client = services.default_model_client()
    sink = _TraceSink()
    outcome = dream(job, client, sink)
    by_id = {str(r.public_id): r for r in runs}
    read = [by_id[d] for d in outcome.runs_read]
    item.runs.set(read)
    usage = outcome.usage
    spend = {
        "prompt": outcome.prompt,
        "answer": redact(outcome.tool_input, secrets),
        "trace": sink.events,
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.output_tokens,
        "cost_usd": outcome.cost_usd,
        "reason": outcome.reason,
    }
    if outcome.status == "failed":
        _finish(item, Dream.Status.FAILED, error=outcome.error, **spend)
        return
    if outcome.status == "no_change":
        _finish(item, Dream.Status.NO_CHANGE, **spend)
        return
    read_ids = set(outcome.runs_read)
    shown = {d.id: d for d in digests if d.id in read_ids}
    weights = {n.key: n.weight for n in notes}
    terms = memories.leak_terms(agent)
    counts = {"applied": 0, "queued": 0, "refused": 0}
    for change in outcome.changes:
        why_not = refusal(change, shown, weights, terms)
        if why_not:
            memories.record_proposal(
                store, change, MemoryProposal.Status.REFUSED, dream=item, refusal=why_not
            )
            counts["refused"] += 1
            continue
        proposal = memories.record_proposal(
            store, change, MemoryProposal.Status.PENDING, dream=item
        )
        status = memories.settle(
            proposal,
            agent.memory_review_mode,
            memories.Source(memories.Actor.DREAM, change.rationale, dream=item),
        )
        key = {"applied": "applied", "pending": "queued"}.get(status, "refused")
        counts[key] += 1
    _finish(item, Dream.Status.COMPLETED, **spend, **counts)
