"""Writes for agents and runs, and the bridge from a Run row to the engine.

Views and tasks call these. `execute_run` is the only place that runs the
engine: it claims the run with a conditional update, so a task delivered
twice runs it once, and writes each engine event as a RunEvent as it happens.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.engine.llm import AnthropicModelClient
from agents.engine.loop import run_agent
from agents.engine.types import AgentJob, Event, RetryPolicy
from agents.engine.types import ModelPrice as EnginePrice
from agents.models import Agent, AgentVersion, ModelPrice, Run, RunEvent
from agents.scheduling import agent_timezone, parse_schedule, sync_agent_schedule
from clients.services import ServiceError

if TYPE_CHECKING:
    from clients.models import User

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are an agent working for a digital agency on a recurring job for one of its "
    "clients. Do the job described by the user, use the tools you are given where they "
    "help, and finish with the deliverable itself, written in Markdown."
)


# ------------------------------------------------------------------ the model endpoint


def model_endpoint() -> tuple[str, str]:
    """Return (base_url, label) of where runs send model calls."""
    if not settings.ANTHROPIC_BASE_URL:
        return "", "Anthropic API (api.anthropic.com)"
    if settings.ANTHROPIC_BASE_URL == settings.SIMULATOR_URL and not settings.ANTHROPIC_API_KEY:
        return (
            settings.SIMULATOR_URL,
            f"Simulated model at {settings.SIMULATOR_URL} (no API key set)",
        )
    return settings.ANTHROPIC_BASE_URL, f"Messages API at {settings.ANTHROPIC_BASE_URL}"


# ------------------------------------------------------------------ agents

DEFINITION_FIELDS = (
    "name",
    "instructions",
    "schedule",
    "timezone",
    "overlap_policy",
    "max_runtime_seconds",
    "budget_usd",
    "retry_attempts",
    "retry_backoff_seconds",
    "enabled",
)


def definition_of(agent: Agent) -> dict[str, Any]:
    """The JSON snapshot an AgentVersion keeps: everything a run depends on."""
    data: dict[str, Any] = {name: getattr(agent, name) for name in DEFINITION_FIELDS}
    data["model"] = agent.model.model
    data["client"] = str(agent.client.public_id)
    # Both are two-decimal fields; one spelling, so an unchanged value compares equal.
    for name in ("budget_usd", "retry_backoff_seconds"):
        data[name] = None if data[name] is None else f"{Decimal(data[name]):.2f}"
    return data


@transaction.atomic
def save_agent(agent: Agent, by: User | None) -> Agent:
    """Validate and save `agent`; publish a new version if its definition changed."""
    agent.agency = agent.client.agency
    agent.full_clean()
    agent.save()
    sync_agent_schedule(agent)
    definition = definition_of(agent)
    latest = AgentVersion.objects.filter(agent=agent).order_by("-number").first()
    if latest is None or latest.definition != definition:
        AgentVersion.objects.create(
            agency=agent.agency,
            agent=agent,
            number=(latest.number + 1) if latest else 1,
            definition=definition,
            created_by=by,
        )
    return agent


def latest_version(agent: Agent) -> AgentVersion:
    version = AgentVersion.objects.filter(agent=agent).order_by("-number").first()
    if version is None:
        raise ServiceError("This agent has no saved version yet; save it first.")
    return version


# ------------------------------------------------------------------ runs


def trigger_run(agent: Agent, by: User | None, trigger: str = Run.Trigger.MANUAL) -> Run:
    """Queue a run of the agent's latest version and hand it to a worker after commit."""
    from agents.tasks import execute_run

    if agent.archived_at is not None:
        raise ServiceError("This agent is archived.")
    if agent.client.archived_at is not None:
        raise ServiceError(
            f"{agent.client.name} is archived; restore the client to run its agents."
        )
    with transaction.atomic():
        run = Run.objects.create(
            agency=agent.agency,
            agent=agent,
            version=latest_version(agent),
            trigger=trigger,
            triggered_by=by,
        )
        # celery-types predates delay_on_commit (Celery 5.4+).
        execute_run.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    return run


def schedule_slot(agent: Agent, when: datetime) -> datetime:
    """The fire time (UTC) `when` belongs to: the schedule's latest fire at or before it.

    Taken from the cron, not from when the task happened to run, so a fire that
    was redelivered or waited in the queue maps to the same slot.
    """
    schedule = parse_schedule(agent.schedule, agent_timezone(agent))
    local = when.astimezone(schedule.tz).replace(second=0, microsecond=0) + timedelta(seconds=1)
    return croniter(schedule.cron, local).get_prev(datetime).astimezone(UTC)


def _slot_already_run(agent: Agent, slot: datetime) -> bool:
    """True if this wall-clock fire time already has a run, as on a daylight-saving repeat.

    When the clocks go back, 01:30 happens twice at two UTC instants an hour
    apart; the unique constraint (UTC) cannot see that, so compare local times.
    """
    tz = zoneinfo.ZoneInfo(agent_timezone(agent))
    local = slot.astimezone(tz).replace(tzinfo=None)
    near = Run.objects.filter(
        agent=agent, scheduled_for__range=(slot - timedelta(hours=3), slot + timedelta(hours=3))
    ).exclude(scheduled_for=slot)
    return any(
        run.scheduled_for is not None
        and run.scheduled_for.astimezone(tz).replace(tzinfo=None) == local
        for run in near
    )


def fire_schedule(agent_id: int, fired_at: datetime | None = None) -> Run | None:
    """Create the run for this schedule slot, once, applying the overlap policy.

    A refused fire is recorded as a `skipped` run with the reason. A second fire
    for the same slot (two beats, a redelivered task, a daylight-saving repeat)
    hits the unique (agent, scheduled_for) constraint and creates nothing.
    """
    from agents.tasks import execute_run

    agent = Agent.objects.select_related("client").filter(pk=agent_id).first()
    if agent is None or not agent.enabled or agent.archived_at is not None or not agent.schedule:
        return None
    slot = schedule_slot(agent, fired_at or timezone.now())
    if _slot_already_run(agent, slot):
        return None
    with transaction.atomic():
        going = Run.objects.for_agency(agent.agency).filter(
            agent=agent, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)
        )
        reason = ""
        if agent.client.archived_at is not None:
            reason = f"{agent.client.name} is archived."
        elif agent.overlap_policy == Agent.Overlap.SKIP and going.exists():
            reason = "The previous run was still going (overlap policy: skip)."
        elif (
            agent.overlap_policy == Agent.Overlap.QUEUE_ONE
            and going.filter(status=Run.Status.QUEUED).exists()
        ):
            reason = "A run was already waiting (overlap policy: queue one)."
        try:
            with transaction.atomic():
                run = Run.objects.create(
                    agency=agent.agency,
                    agent=agent,
                    version=latest_version(agent),
                    trigger=Run.Trigger.SCHEDULE,
                    scheduled_for=slot,
                    status=Run.Status.SKIPPED if reason else Run.Status.QUEUED,
                    error=reason,
                    finished_at=timezone.now() if reason else None,
                )
        except IntegrityError:
            return None  # this slot already has its run
        if not reason and agent.overlap_policy == Agent.Overlap.REPLACE:
            going.exclude(pk=run.pk).update(
                status=Run.Status.CANCELLED,
                finished_at=timezone.now(),
                error="Replaced by the next scheduled run (overlap policy: replace).",
            )
        if not reason:
            execute_run.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    return run


class DatabaseSink:
    """Write each engine event as a RunEvent row right away, so the run page shows it live."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.seq = 0

    def emit(self, event: Event) -> None:
        self.seq += 1
        usage = event.usage
        RunEvent.objects.create(
            agency_id=self.run.agency_id,
            run=self.run,
            seq=self.seq,
            type=event.type,
            data=event.data,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            cache_read_tokens=usage.cache_read_tokens if usage else 0,
            cost_usd=event.cost_usd,
            duration_ms=event.duration_ms,
        )


def _job_for(run: Run) -> AgentJob:
    definition = run.version.definition
    price = ModelPrice.objects.get(model=definition["model"])
    budget = definition.get("budget_usd")
    secrets = tuple(s for s in (settings.ANTHROPIC_API_KEY,) if s)
    return AgentJob(
        model=price.model,
        system=SYSTEM_PROMPT,
        # The version's instructions: an edit made after the run was queued applies to the next one.
        prompt=definition["instructions"],
        price=EnginePrice(
            input=price.input_per_mtok,
            output=price.output_per_mtok,
            cache_write=price.cache_write_per_mtok,
            cache_read=price.cache_read_per_mtok,
        ),
        max_runtime=float(definition["max_runtime_seconds"]),
        budget_usd=Decimal(budget) if budget else None,
        retry=RetryPolicy(
            attempts=int(definition["retry_attempts"]),
            base_backoff=float(definition["retry_backoff_seconds"]),
        ),
        secrets=secrets,
    )


def execute_run(run_id: int) -> bool:
    """Run a queued run to its end. Safe to call twice: only one call claims it.

    Returns False when the run must wait: a scheduled run under the "queue one"
    policy starts only once the agent's running run has ended.
    """
    with transaction.atomic():
        waiting = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).first()
        if waiting is None:
            return True  # another worker has it, or it was cancelled or already ran
        # Lock the agent row: two workers claiming runs of one "queue one" agent
        # then check "is one running?" one after the other, never both at once.
        agent = Agent.objects.select_for_update().get(pk=waiting.agent_id)
        if (
            agent.overlap_policy == Agent.Overlap.QUEUE_ONE
            and Run.objects.filter(agent=agent, status=Run.Status.RUNNING).exists()
        ):
            return False
        claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
            status=Run.Status.RUNNING, started_at=timezone.now()
        )
    if not claimed:
        return True  # another worker has it, or it was cancelled or already ran
    run = Run.objects.select_related("version", "agent").get(pk=run_id)
    base_url, _ = model_endpoint()
    client = AnthropicModelClient(
        api_key=settings.ANTHROPIC_API_KEY or "simulator-needs-no-key", base_url=base_url or None
    )
    try:
        job = _job_for(run)
    except ModelPrice.DoesNotExist:
        model = run.version.definition["model"]
        _finish(
            run,
            Run.Status.FAILED,
            error=f"The model {model} is no longer in the pricing table; "
            "an operator must add it back.",
        )
        return True
    try:
        outcome = run_agent(
            job,
            client,
            DatabaseSink(run),
            # Cancelled, or ended by the sweeper: either way this worker stops.
            should_stop=lambda: (
                not Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).exists()
            ),
        )
    except Exception as exc:  # an engine bug must not leave the run 'running' forever
        logger.exception("Run %s crashed", run.public_id)
        _finish(
            run, Run.Status.FAILED, error=f"Internal error: {type(exc).__name__}. It was logged."
        )
        return True
    usage = outcome.usage
    # What was spent counts whatever the run's final status (a cancelled or swept
    # run keeps its status, but not a cost of zero).
    Run.objects.filter(pk=run.pk).update(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cost_usd=outcome.cost_usd,
    )
    _finish(run, Run.Status(outcome.status), output=outcome.output, error=outcome.error)
    return True


# A run left `running` this long past its own max runtime lost its worker.
STUCK_GRACE = timedelta(minutes=5)
# Queued this long with no worker claiming it: the dispatch was lost (for example
# the broker dropped it).
REDISPATCH_AFTER = timedelta(minutes=10)


def sweep_stuck_runs(now: datetime | None = None) -> tuple[int, int]:
    """End runs whose worker died, and re-send runs nobody claimed. Returns (ended, resent).

    Re-sending is safe: execute_run claims with a conditional update.
    """
    from agents.tasks import execute_run

    now = now or timezone.now()
    ended = 0
    running = Run.objects.filter(status=Run.Status.RUNNING).select_related("agent")
    for run in running.iterator():
        started = run.started_at or run.queued_at
        if started + timedelta(seconds=run.agent.max_runtime_seconds) + STUCK_GRACE < now:
            ended += Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
                status=Run.Status.TIMED_OUT,
                finished_at=now,
                error="The worker running this run stopped responding; the sweeper ended it.",
            )
    running_agents = Run.objects.filter(status=Run.Status.RUNNING).values("agent_id")
    stale = Run.objects.filter(
        status=Run.Status.QUEUED, queued_at__lt=now - REDISPATCH_AFTER
    ).exclude(
        # Waiting on purpose ("queue one" behind a running run): its task retries by itself.
        agent_id__in=running_agents
    )
    resent = 0
    for run_id in stale.values_list("pk", flat=True):
        execute_run.delay(run_id)
        resent += 1
    if ended or resent:
        logger.warning("Sweeper: ended %d stuck runs, re-sent %d unclaimed ones", ended, resent)
    return ended, resent


def cancel_run(run: Run, by: User | None) -> bool:
    """Cancel a queued or running run; a running one stops at its next step.

    Returns False if the run had already ended.
    """
    who = f" by {by.email}" if by is not None else ""
    return bool(
        Run.objects.filter(pk=run.pk, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)).update(
            status=Run.Status.CANCELLED, finished_at=timezone.now(), error=f"Cancelled{who}."
        )
    )


def _finish(run: Run, status: Run.Status, **fields: Any) -> None:
    # Conditional: a run cancelled meanwhile keeps its status.
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
