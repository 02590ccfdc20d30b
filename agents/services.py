"""Writes for agents and runs, and the bridge from a Run row to the engine.

Views and tasks call these. `execute_run` is the only place that runs the
engine: it claims the run with a conditional update, so a task delivered
twice runs it once, and writes each engine event as a RunEvent as it happens.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import time
import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from croniter import croniter
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents import dreams, grading
from agents import memory as memories
from agents.engine.llm import AnthropicModelClient, json_safe
from agents.engine.loop import run_agent
from agents.engine.memory import (
    MEMORY_TOOL,
    CombinedTools,
    Window,
    render_window,
    select_window,
)
from agents.engine.rubric import RubricError, dump_rubric, load_rubric, rubric_data
from agents.engine.sandbox import (
    SandboxLimits,
    SandboxTools,
    collect_files,
    remove_tree,
)
from agents.engine.types import AgentJob, Event, RetryPolicy, RunOutcome
from agents.ledger import remaining_runtime, trace_totals
from agents.models import (
    AGENT_TOOLS,
    Agent,
    AgentVersion,
    ModelPrice,
    RubricVersion,
    Run,
    RunArtifact,
    RunEvent,
)
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
    "missed_fire_policy",
    "tools",
    "max_runtime_seconds",
    "budget_usd",
    "retry_attempts",
    "retry_backoff_seconds",
    "enabled",
    "memory_token_budget",
    "memory_review_mode",
    "dreaming_enabled",
    "dream_schedule",
    "dream_token_budget",
)


def definition_of(agent: Agent) -> dict[str, Any]:
    """The JSON snapshot an AgentVersion keeps: everything a run depends on."""
    data: dict[str, Any] = {name: getattr(agent, name) for name in DEFINITION_FIELDS}
    data["model"] = agent.model.model
    data["grader_model"] = agent.grader_model.model if agent.grader_model else ""
    data["dream_model"] = agent.dream_model.model if agent.dream_model else ""
    data["client"] = str(agent.client.public_id)
    # In one fixed order, so the same set of tools compares equal.
    data["tools"] = [name for name in AGENT_TOOLS if name in agent.tools]
    # Both are two-decimal fields; one spelling, so an unchanged value compares equal.
    for name in ("budget_usd", "retry_backoff_seconds"):
        data[name] = None if data[name] is None else f"{Decimal(data[name]):.2f}"
    return data


@transaction.atomic
def save_agent(agent: Agent, by: User | None) -> Agent:
    """Validate and save `agent`; publish a new version if its definition changed."""
    agent.agency = agent.client.agency
    agent.full_clean()
    if agent._state.adding:
        agent.save()
    else:
        # Never from this instance: it may be older than a secret change made meanwhile.
        fields = [f.name for f in Agent._meta.concrete_fields if not f.primary_key]
        agent.save(update_fields=[name for name in fields if name != "webhook_secret"])
    _sync_and_publish(agent, by)
    return agent


def _sync_and_publish(agent: Agent, by: User | None) -> None:
    """Bring the beat tasks in line with the saved agent; a new version if it changed."""
    sync_agent_schedule(agent)
    dreams.sync_dream_schedule(agent)
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


@transaction.atomic
def pause_agent(agent: Agent, by: User | None) -> bool:
    """Turn the agent's schedule off, as a new version; False if it was already paused.

    Only `enabled` changes, so nothing else is validated again: an alert may pause an
    agent whose older settings would not pass today's form.
    """
    if not Agent.objects.filter(pk=agent.pk, enabled=True).update(enabled=False):
        return False
    agent.enabled = False
    _sync_and_publish(agent, by)
    return True


def latest_version(agent: Agent) -> AgentVersion:
    version = AgentVersion.objects.filter(agent=agent).order_by("-number").first()
    if version is None:
        raise ServiceError("This agent has no saved version yet; save it first.")
    return version


# ------------------------------------------------------------------ rubrics


def save_rubric(agent: Agent, source: str, by: User | None, note: str = "") -> RubricVersion:
    """Check `source` (YAML or JSON) and publish it as the agent's next rubric version.

    Raises RubricError listing every problem; nothing is saved then. Saving text
    identical to the current version publishes nothing and returns that version.
    """
    rubric = load_rubric(source)
    with transaction.atomic():
        # One publisher at a time per agent: version numbers stay gapless and unique.
        Agent.objects.select_for_update().filter(pk=agent.pk).first()
        latest = grading.current_rubric(agent.pk)
        if latest is not None and latest.source == source:
            return latest
        return RubricVersion.objects.create(
            agency=agent.agency,
            agent=agent,
            number=(latest.number + 1) if latest else 1,
            source=source,
            definition=rubric_data(rubric),
            note=note[:200],
            created_by=by,
        )


def copy_rubric(source: Agent, target: Agent, by: User | None) -> RubricVersion:
    """Publish `source`'s current rubric as `target`'s next version (same agency only)."""
    if source.agency_id != target.agency_id:
        raise ServiceError("Rubrics can be copied only between agents of one agency.")
    version = grading.current_rubric(source.pk)
    if version is None:
        raise ServiceError(f"{source.name} has no rubric to copy.")
    # The checked form, not the text as typed: text saved before a check was added
    # (anchors, the size limit) would no longer load, yet the version still grades.
    try:
        text = dump_rubric(grading.rubric_of(version))
        return save_rubric(target, text, by, note=f"Copied from {source.name} v{version.number}")
    except RubricError as exc:
        raise ServiceError(
            f"{source.name}'s rubric (version {version.number}) could not be copied: {exc}"
        ) from exc


# ------------------------------------------------------------------ runs


def trigger_run(
    agent: Agent,
    by: User | None,
    trigger: str = Run.Trigger.MANUAL,
    *,
    input: str = "",
    delivery_id: str = "",
) -> Run:
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
            input=input,
            delivery_id=delivery_id,
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
    return croniter(schedule.cron, local, day_or=False).get_prev(datetime).astimezone(UTC)


def _slot_already_run(agent: Agent, slot: datetime) -> bool:
    """True if this wall-clock fire time already has a run, as on a daylight-saving repeat.

    When the clocks go back, 01:30 happens twice at two UTC instants an hour
    apart; the unique constraint (UTC) cannot see that, so compare local times.
    """
    tz = zoneinfo.ZoneInfo(agent_timezone(agent))
    aware = slot.astimezone(tz)
    if aware.replace(fold=1 - aware.fold).utcoffset() == aware.utcoffset():
        return False  # this wall-clock time happens once: the constraint is enough
    local = aware.replace(tzinfo=None)
    near = Run.objects.filter(
        agent=agent, scheduled_for__range=(slot - timedelta(hours=3), slot + timedelta(hours=3))
    ).exclude(scheduled_for=slot)
    return any(
        run.scheduled_for is not None
        and run.scheduled_for.astimezone(tz).replace(tzinfo=None) == local
        for run in near
    )


def fire_schedule(agent_id: int, fired_at: datetime | None = None) -> Run | None:
    """Create the run for this schedule slot, once, applying the overlap and missed-fire policies.

    A refused fire is recorded as a `skipped` run with the reason. A second fire
    for the same slot (two beats, a redelivered task, a daylight-saving repeat)
    hits the unique (agent, scheduled_for) constraint and creates nothing.

    Fires missed while beat or the workers were down collapse into one: beat
    sends one catch-up fire per agent, queued fires all map to the latest slot.
    A fire later than MISSED_FIRE_GRACE_SECONDS then runs once, or is recorded
    as skipped when the agent's missed-fire policy says so.
    """

    agent = Agent.objects.select_related("client", "agency").filter(pk=agent_id).first()
    if agent is None or not agent.enabled or agent.archived_at is not None or not agent.schedule:
        return None
    fired_at = fired_at or timezone.now()
    slot = schedule_slot(agent, fired_at)
    if _slot_already_run(agent, slot):
        return None
    late = fired_at - slot
    try:
        # One transaction and no savepoint: a busy scheduler fires a thousand of
        # these in a minute, so every statement counts.
        with transaction.atomic():
            return _create_scheduled_run(agent, slot, late)
    except IntegrityError:
        return None  # this slot already has its run


def _create_scheduled_run(agent: Agent, slot: datetime, late: timedelta) -> Run:
    from agents.tasks import execute_run

    going = Run.objects.for_agency(agent.agency).filter(
        agent=agent, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)
    )
    reason = ""
    if agent.client.archived_at is not None:
        reason = f"{agent.client.name} is archived."
    elif (
        agent.missed_fire_policy == Agent.MissedFire.SKIP
        and late.total_seconds() > settings.MISSED_FIRE_GRACE_SECONDS
    ):
        reason = (
            f"Missed: this fire came {int(late.total_seconds() // 60)} min late, "
            "while the scheduler or the workers were down (missed-fire policy: skip)."
        )
    elif agent.overlap_policy == Agent.Overlap.SKIP and going.exists():
        reason = "The previous run was still going (overlap policy: skip)."
    elif (
        agent.overlap_policy == Agent.Overlap.QUEUE_ONE
        and going.filter(status=Run.Status.QUEUED).exists()
    ):
        reason = "A run was already waiting (overlap policy: queue one)."
    # Last in the transaction: a duplicate slot fails here and rolls back nothing else.
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
    if not reason and agent.overlap_policy == Agent.Overlap.REPLACE:
        going.exclude(pk=run.pk).update(
            status=Run.Status.CANCELLED,
            finished_at=timezone.now(),
            error="Replaced by the next scheduled run (overlap policy: replace).",
        )
    if not reason:
        execute_run.delay_on_commit(run.pk)  # type: ignore[attr-defined]
    return run


def release_connection() -> None:
    """Hand the database connection back between a run's steps.

    A worker on the threads pool carries hundreds of runs that spend nearly all
    their time waiting on the model; with the connection pool on (settings,
    DATABASE_POOL_MAX_SIZE) this returns the connection to the pool, so a few
    dozen connections serve them all. Without a pool each thread keeps its own.
    """
    pooled = bool(connection.settings_dict.get("OPTIONS", {}).get("pool"))
    if pooled and not connection.in_atomic_block:
        connection.close()


# Each attempt numbers its events from its own base, so a lost worker that is in
# fact still writing can never collide with the attempt that replaced it.
SEQ_PER_ATTEMPT = 10_000


class DatabaseSink:
    """Write each engine event as a RunEvent row right away, so the run page shows it live."""

    def __init__(self, run: Run, attempt: int = 1) -> None:
        self.run = run
        self.seq = (attempt - 1) * SEQ_PER_ATTEMPT

    def emit(self, event: Event) -> None:
        self.seq += 1
        usage = event.usage
        RunEvent.objects.create(
            agency_id=self.run.agency_id,
            run=self.run,
            seq=self.seq,
            type=event.type,
            # A safety net: NaN, Infinity or NUL anywhere in the data (model content
            # above all) would make the row invalid JSON and crash the run.
            data=json_safe(event.data),
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
            cache_write_tokens=usage.cache_write_tokens if usage else 0,
            cache_read_tokens=usage.cache_read_tokens if usage else 0,
            cost_usd=event.cost_usd,
            duration_ms=event.duration_ms,
        )
        release_connection()


def _job_for(run: Run, spent: Decimal, window: Window) -> AgentJob:
    definition = run.version.definition
    price = ModelPrice.objects.get(model=definition["model"])
    budget = definition.get("budget_usd")
    secrets = secrets_of(run.agent)
    # The version's instructions: an edit made after the run was queued applies to the next one.
    prompt = definition["instructions"]
    if run.input:
        prompt += f"\n\n## Input for this run ({run.get_trigger_display()})\n\n{run.input}"
    memory = render_window(window)
    return AgentJob(
        model=price.model,
        # The memory window follows the fixed instructions: the whole system prompt
        # is the cached prefix of every call in the run.
        system=f"{SYSTEM_PROMPT}\n\n{memory}" if memory else SYSTEM_PROMPT,
        prompt=prompt,
        price=price.engine_price(),
        max_runtime=remaining_runtime(run),
        budget_usd=Decimal(budget) if budget else None,
        spent_usd=spent,
        retry=RetryPolicy(
            attempts=int(definition["retry_attempts"]),
            base_backoff=float(definition["retry_backoff_seconds"]),
        ),
        secrets=secrets,
    )


def workspace_of(run: Run, attempt: int) -> Path:
    """One folder per attempt: a lost worker still running never shares it."""
    return Path(settings.SANDBOX_DIR) / str(run.public_id) / str(attempt)


def _toolbox_for(run: Run, attempt: int) -> SandboxTools:
    return SandboxTools(
        workspace_of(run, attempt),
        tuple(run.version.definition.get("tools", ())),
        SandboxLimits(
            cpu_seconds=settings.SANDBOX_CPU_SECONDS,
            memory_bytes=settings.SANDBOX_MEMORY_MB * 1024 * 1024,
            file_bytes=settings.SANDBOX_FILE_MB * 1024 * 1024,
            output_bytes=settings.SANDBOX_OUTPUT_BYTES,
            wall_seconds=float(settings.SANDBOX_WALL_SECONDS),
            workspace_bytes=settings.SANDBOX_WORKSPACE_MB * 1024 * 1024,
            processes=settings.SANDBOX_PROCESSES,
        ),
        allow_unsandboxed=settings.SANDBOX_ALLOW_UNSANDBOXED,
    )


class Unclaimed(enum.Enum):
    """Why `_claim` did not hand a run to this worker."""

    NOT_OURS = "not ours"  # another worker has it, or it was cancelled or already ran
    MUST_WAIT = "must wait"  # "queue one": the agent's running run must end first


def _claim(run_id: int) -> int | Unclaimed:
    """Mark a queued run running and return its attempt number, or say why not."""
    with transaction.atomic():
        waiting = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).first()
        if waiting is None:
            return Unclaimed.NOT_OURS
        # Lock the agent row: two workers claiming runs of one "queue one" agent
        # then check "is one running?" one after the other, never both at once.
        agent = Agent.objects.select_for_update().get(pk=waiting.agent_id)
        if (
            agent.overlap_policy == Agent.Overlap.QUEUE_ONE
            and Run.objects.filter(agent=agent, status=Run.Status.RUNNING).exists()
        ):
            return Unclaimed.MUST_WAIT
        attempt = waiting.attempt + 1
        now = timezone.now()
        claimed = Run.objects.filter(
            pk=run_id, status=Run.Status.QUEUED, attempt=waiting.attempt
        ).update(
            status=Run.Status.RUNNING,
            started_at=waiting.started_at or now,
            heartbeat_at=now,
            attempt=attempt,
        )
    return attempt if claimed else Unclaimed.NOT_OURS


def execute_run(run_id: int) -> bool:
    """Run a queued run to its end. Safe to call twice: only one call claims it.

    Returns False when the run must wait: a scheduled run under the "queue one"
    policy starts only once the agent's running run has ended.
    """
    attempt = _claim(run_id)
    if isinstance(attempt, Unclaimed):
        return attempt is Unclaimed.NOT_OURS
    run = Run.objects.select_related("version", "agent").get(pk=run_id)
    ours = Run.objects.filter(pk=run.pk, attempt=attempt)
    started = timezone.now()
    workspace = workspace_of(run, attempt)
    remove_tree(workspace)
    # One sink for the attempt: its events, then any note about its files, number on.
    sink = DatabaseSink(run, attempt)
    status, output, error = _run_engine(run, ours, attempt, sink)
    try:
        _keep_artifacts(run, ours, workspace, sink)
    except Exception:  # the run's result must be recorded whatever its files were
        logger.exception("Run %s: keeping its artifacts failed", run.public_id)
    finally:
        remove_tree(workspace)
        with contextlib.suppress(OSError):
            workspace.parent.rmdir()  # the run's folder, once no attempt uses it
    # Totals from the trace, so tokens spent by an attempt whose worker died count
    # too, and count once. Only the attempt that ends the run is charged runtime.
    hours = Decimal((timezone.now() - started).total_seconds()) / 3600
    runtime_cost = (hours * settings.RUNTIME_USD_PER_HOUR).quantize(Decimal("0.000001"))
    totals = trace_totals(run)
    totals["cost_usd"] += runtime_cost
    # What was spent counts whatever the run's final status: a run cancelled or
    # ended by the sweeper meanwhile keeps that status, not a cost of zero.
    ours.update(**totals, runtime_cost_usd=runtime_cost)
    # One transaction: a run seen finished has its memory proposals settled too.
    with transaction.atomic():
        ours.filter(status=Run.Status.RUNNING).update(
            status=status, finished_at=timezone.now(), output=output, error=error
        )
        run.refresh_from_db(fields=["status"])
        if run.is_finished:
            # In a savepoint: a failure refuses the proposals, never the run's result.
            memories.settle_or_refuse_run_proposals(run)
    return True


@functools.cache
def _model_client(api_key: str, base_url: str) -> AnthropicModelClient:
    """One SDK client per process and endpoint, shared by the worker's threads.

    The SDK's client is thread-safe and keeps a connection pool; building one per
    run would cost more CPU than the run's own requests on a busy worker.
    """
    return AnthropicModelClient(api_key=api_key, base_url=base_url or None)


def default_model_client() -> AnthropicModelClient:
    """The client for the configured endpoint (Anthropic, another base URL, or the simulator)."""
    base_url, _ = model_endpoint()
    return _model_client(settings.ANTHROPIC_API_KEY or "simulator-needs-no-key", base_url)


def secrets_of(agent: Agent) -> tuple[str, ...]:
    """Values never to appear in a trace, a prompt kept for a page, or an answer."""
    return tuple(s for s in (settings.ANTHROPIC_API_KEY, agent.webhook_secret) if s)


# A long model call streams text; this often, it also proves the worker alive.
HEARTBEAT_EVERY = 30.0
# Steps closer together than this share one cancel check (and heartbeat).
STOP_CHECK_EVERY = 1.0


def _run_engine(
    run: Run, ours: Any, attempt: int, sink: DatabaseSink
) -> tuple[Run.Status, str, str]:
    """Run the engine for a claimed run; return (status, output, error)."""
    # Only a later claim (its worker died) can find spend already in the trace.
    spent = Decimal(trace_totals(run)["cost_usd"]) if attempt > 1 else Decimal(0)
    definition = run.version.definition
    budget = int(definition.get("memory_token_budget", run.agent.memory_token_budget))
    uses_memory = MEMORY_TOOL in definition["tools"]
    # Read once: the window and the memory tool see the same notes.
    notes = memories.notes_for(run.agent) if budget or uses_memory else []
    window = select_window(notes, budget)
    if window.notes or window.left_out:
        sink.emit(
            Event(
                "memory.window",
                {
                    "notes": [n.label for n in window.notes],
                    "left_out": [n.label for n in window.left_out],
                    "tokens": window.tokens,
                    "budget": window.budget,
                },
            )
        )
    try:
        job = _job_for(run, spent, window)
    except ModelPrice.DoesNotExist:
        model = run.version.definition["model"]
        return (
            Run.Status.FAILED,
            "",
            f"The model {model} is no longer in the pricing table; an operator must add it back.",
        )
    client = default_model_client()
    # The last cancel check, which is also the last heartbeat.
    last_check = -STOP_CHECK_EVERY

    def should_stop() -> bool:
        # One write that is also the heartbeat: it matches nothing once the run was
        # cancelled, ended by the sweeper, or handed to another worker. At most
        # every STOP_CHECK_EVERY seconds: on a busy worker these writes add up.
        nonlocal last_check
        now = time.monotonic()
        if now - last_check < STOP_CHECK_EVERY:
            return False
        last_check = now
        alive = ours.filter(status=Run.Status.RUNNING).update(heartbeat_at=timezone.now())
        release_connection()
        return not alive

    def on_text(_chunk: str) -> None:
        if time.monotonic() - last_check > HEARTBEAT_EVERY:
            should_stop()

    memory_tool = memories.run_memory_tool(run, notes) if uses_memory else None
    tools = CombinedTools(_toolbox_for(run, attempt), memory_tool)

    def run_pass(pass_job: AgentJob) -> RunOutcome:
        release_connection()
        return run_agent(
            pass_job, client, sink, tools=tools, on_text=on_text, should_stop=should_stop
        )

    try:
        rubric_version = grading.current_rubric(run.agent_id)
        if rubric_version is None:
            outcome = run_pass(job)
            return Run.Status(outcome.status), outcome.output, outcome.error
        status, output, error = grading.run_graded(
            run,
            ours,
            job,
            rubric_version,
            client,
            sink,
            run_pass,
            workspace_of(run, attempt),
            should_stop,
        )
        return Run.Status(status), output, error
    except Exception as exc:  # an engine bug must not leave the run 'running' forever
        logger.exception("Run %s crashed", run.public_id)
        return Run.Status.FAILED, "", f"Internal error: {type(exc).__name__}. It was logged."


def _keep_artifacts(run: Run, ours: Any, workspace: Path, sink: DatabaseSink) -> None:
    """Store the files the agent left in its workspace, within the size caps."""
    if not workspace.is_dir() or not ours.exists():
        return
    files, notes = collect_files(
        workspace, settings.ARTIFACT_MAX_FILE_BYTES, settings.ARTIFACT_MAX_RUN_BYTES
    )
    with transaction.atomic():
        RunArtifact.objects.filter(run=run).delete()
        RunArtifact.objects.bulk_create(
            RunArtifact(
                agency_id=run.agency_id,
                run=run,
                path=f.path,
                size=len(f.content),
                content=f.content,
            )
            for f in files
        )
    if notes:
        sink.emit(Event("artifacts.skipped", {"files": notes}))


# A run left `running` this long past its own max runtime lost its worker.
STUCK_GRACE = timedelta(minutes=5)
# Queued this long with no worker claiming it: the dispatch was lost (for example
# the broker dropped it).
REDISPATCH_AFTER = timedelta(minutes=10)
# A run whose worker died is claimed again at most this many times in all.
MAX_ATTEMPTS = 3


def sweep_stuck_runs(now: datetime | None = None) -> tuple[int, int]:
    """Repair runs a lost worker or message left behind. Returns (ended, resent).

    A running run with no heartbeat for RUN_HEARTBEAT_TIMEOUT_SECONDS lost its
    worker: it is queued again and re-sent while it has attempts and time left,
    else ended `timed_out`. Re-sending is safe: execute_run claims with a
    conditional update, and the attempt number retires the lost worker's writes.
    """
    from agents.tasks import execute_run

    now = now or timezone.now()
    ended = 0
    resent = 0
    silent_since = now - timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS)
    running = Run.objects.filter(status=Run.Status.RUNNING).select_related("agent")
    for run in running.iterator():
        # One run's bad data must not stop the sweep for every other tenant's runs.
        # Each update commits by itself (autocommit), as before: no savepoint is needed.
        try:
            outcome = _sweep_one(run, now, silent_since)
        except Exception:
            logger.exception("Sweeper: run %s could not be swept", run.public_id)
            continue
        ended += outcome == "ended"
        resent += outcome == "resent"
    running_agents = Run.objects.filter(status=Run.Status.RUNNING).values("agent_id")
    unclaimed = Run.objects.filter(
        status=Run.Status.QUEUED, queued_at__lt=now - REDISPATCH_AFTER
    ).exclude(
        # Waiting on purpose ("queue one" behind a running run): its task retries by itself.
        agent_id__in=running_agents
    )
    for run_id in unclaimed.values_list("pk", flat=True):
        execute_run.delay(run_id)
        resent += 1
    if ended or resent:
        logger.warning("Sweeper: ended %d stuck runs, re-sent %d", ended, resent)
    return ended, resent


def _sweep_one(run: Run, now: datetime, silent_since: datetime) -> str:
    """End or re-send one running run if its worker is gone: "ended", "resent" or ""."""
    from agents.tasks import execute_run

    started = run.started_at or run.queued_at
    deadline = started + timedelta(seconds=run.agent.max_runtime_seconds)
    heartbeat = run.heartbeat_at or started
    stale = Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING, attempt=run.attempt)
    silent = heartbeat < silent_since
    if deadline + STUCK_GRACE < now or (
        silent and (run.attempt >= MAX_ATTEMPTS or deadline <= now)
    ):
        with transaction.atomic():  # seen ended only with its proposals settled
            if stale.update(
                status=Run.Status.TIMED_OUT,
                finished_at=now,
                error="The worker running this run stopped responding; the sweeper ended it.",
                **trace_totals(run),
            ):
                run.status = Run.Status.TIMED_OUT
                memories.settle_or_refuse_run_proposals(run)  # its held proposals are refused
                return "ended"
    elif silent and stale.update(status=Run.Status.QUEUED):
        logger.warning("Run %s lost its worker; claiming it again", run.public_id)
        execute_run.delay(run.pk)
        return "resent"
    return ""


def cancel_run(run: Run, by: User | None) -> bool:
    """Cancel a queued or running run; a running one stops at its next step.

    Returns False if the run had already ended.
    """
    who = f" by {by.email}" if by is not None else ""
    fields = {"status": Run.Status.CANCELLED, "finished_at": timezone.now()}
    # A running run's worker totals its cost when it stops; a queued one that an
    # earlier attempt already spent on (its worker died) is totalled here.
    if Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED, attempt__gt=0).update(
        **fields, **trace_totals(run), error=f"Cancelled{who}."
    ):
        return True
    return bool(
        Run.objects.filter(pk=run.pk, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)).update(
            **fields, error=f"Cancelled{who}."
        )
    )
