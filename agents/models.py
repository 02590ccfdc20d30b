"""Agents and their runs: definitions, immutable versions, runs, their traces, prices.

Every row carries `agency` (see clients/models.py), so views scope with
`Model.objects.for_agency(agency)`.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.timezone import now

from agents.engine.memory import MEMORY_TOOL
from agents.engine.sandbox import TOOL_NAMES as SANDBOX_TOOLS
from agents.engine.types import ModelPrice as EnginePrice
from clients.models import Agency, AgencyQuerySet, Client, validate_timezone


class ModelPrice(models.Model):
    """List price of a model in USD per million tokens; operators edit it in the admin."""

    model = models.CharField(max_length=100, unique=True)
    label = models.CharField(max_length=100)
    input_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    output_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_write_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    cache_read_per_mtok = models.DecimalField(max_digits=10, decimal_places=4)
    active = models.BooleanField(default=True, help_text="Offered when agents are set up.")

    class Meta:
        ordering: ClassVar[list[str]] = ["label"]

    def __str__(self) -> str:
        return self.label

    def engine_price(self) -> EnginePrice:
        """The price as the engine takes it."""
        return EnginePrice(
            input=self.input_per_mtok,
            output=self.output_per_mtok,
            cache_write=self.cache_write_per_mtok,
            cache_read=self.cache_read_per_mtok,
        )


# The sandbox's tools, then the memory tool (which runs in the worker, on the database).
AGENT_TOOLS = (*SANDBOX_TOOLS, MEMORY_TOOL)


def default_tools() -> list[str]:
    return ["list_files", "read_file", "write_file", MEMORY_TOOL]


class Agent(models.Model):
    """One recurring job for one client."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="agents")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=120)
    instructions = models.TextField(help_text="What the agent does on each run, in plain words.")
    model = models.ForeignKey(ModelPrice, on_delete=models.PROTECT, related_name="+")
    max_runtime_seconds = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(10)], help_text="A run is stopped after this."
    )
    budget_usd = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Per run. Empty means no limit.",
    )
    retry_attempts = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1)], help_text="Model calls tried at most."
    )
    retry_backoff_seconds = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal(2),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="First wait; it doubles.",
    )

    class Overlap(models.TextChoices):
        SKIP = "skip", "Skip the new run"
        QUEUE_ONE = "queue_one", "Queue one run behind it"
        REPLACE = "replace", "Cancel the running one and start anew"

    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron, 5 fields (minute hour day-of-month month day-of-week), "
        "e.g. 30 2 * * * for 02:30 daily. Empty: runs only when started by hand.",
    )
    timezone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_timezone],
        help_text="IANA name. Empty: the client's time zone.",
    )
    overlap_policy = models.CharField(
        "when a run is still going at the next fire",
        max_length=10,
        choices=Overlap.choices,
        default=Overlap.SKIP,
    )

    class MissedFire(models.TextChoices):
        RUN_ONCE = "run_once", "Run once when back up"
        SKIP = "skip", "Skip missed fires"

    missed_fire_policy = models.CharField(
        "if fires were missed",
        max_length=10,
        choices=MissedFire.choices,
        default=MissedFire.RUN_ONCE,
        help_text="While beat or the workers were down. Missed fires become at most one run.",
    )
    tools = models.JSONField(
        default=default_tools,
        blank=True,
        help_text="Sandboxed tools the agent may call; see agents/engine/sandbox.py.",
    )
    grader_model = models.ForeignKey(
        ModelPrice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The model that grades each run against the rubric, in its own context. "
        "Empty: the agent's own model.",
    )
    # Memory and dreaming (agents/memory.py, agents/dreams.py).
    memory_token_budget = models.PositiveIntegerField(
        "memory window (tokens)",
        default=1500,
        validators=[MinValueValidator(0)],
        help_text="How much of its memory a run starts with: pinned notes first, then by "
        "weight and recency. 0: none.",
    )

    class ReviewMode(models.TextChoices):
        AUTO = "auto", "Apply every change"
        QUEUE_ALL = "queue_all", "Queue every change for review"
        LOW_RISK = "low_risk", "Apply additions and reweights, queue the rest"

    memory_review_mode = models.CharField(
        "memory changes",
        max_length=10,
        choices=ReviewMode.choices,
        default=ReviewMode.LOW_RISK,
        help_text="For changes a dream or a run proposes. Edits, supersedes and expiries "
        "are the risky ones.",
    )
    dreaming_enabled = models.BooleanField(
        "dreaming",
        default=False,
        help_text="A scheduled pass that curates this agent's memory from its graded runs.",
    )
    dream_schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text="Cron, 5 fields, in the agent's time zone. Empty: weekly, at a night-time "
        "slot picked for this agent so a fleet does not dream at one minute.",
    )
    dream_model = models.ForeignKey(
        ModelPrice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty: the agent's own model.",
    )
    dream_token_budget = models.PositiveIntegerField(
        default=30_000,
        validators=[MinValueValidator(6_000)],
        help_text="Tokens one dream may use, its answer included; older runs are left out to fit.",
    )
    enabled = models.BooleanField(default=True, help_text="Paused agents do not run on schedule.")
    # Signs inbound webhook calls. Shown once when created; never rendered again
    # and kept out of versions, the admin and traces.
    webhook_secret = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[AgencyQuerySet[Agent]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.client})"

    def clean(self) -> None:
        from agents.scheduling import ScheduleError, parse_schedule

        if not isinstance(self.tools, list) or any(t not in AGENT_TOOLS for t in self.tools):
            raise ValidationError({"tools": f"Tools must be among: {', '.join(AGENT_TOOLS)}."})

        if self.client_id is None:
            return
        for name in ("schedule", "dream_schedule"):
            cron = getattr(self, name)
            if cron:
                try:
                    parse_schedule(cron, self.timezone or self.client.timezone)
                except ScheduleError as exc:
                    raise ValidationError({name: str(exc)}) from exc


class AgentVersion(models.Model):
    """An immutable snapshot of an agent's definition; every run records the one it ran."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(default=now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[AgencyQuerySet[AgentVersion]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["agent", "-number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["agent", "number"], name="agent_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} v{self.number}"


class Run(models.Model):
    """One execution of an agent."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped"
        # Graded runs: the last attempt missed the rubric, or no trusted grade came.
        FAILED_GRADE = "failed_grade", "Failed grade"
        NOT_GRADED = "not_graded", "Not graded"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now"
        WEBHOOK = "webhook", "Webhook"
        ORCHESTRATOR = "orchestrator", "Orchestrator"

    FINISHED = frozenset(
        {
            Status.SUCCEEDED,
            Status.FAILED,
            Status.TIMED_OUT,
            Status.CANCELLED,
            Status.SKIPPED,
            Status.FAILED_GRADE,
            Status.NOT_GRADED,
        }
    )

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(AgentVersion, on_delete=models.PROTECT, related_name="runs")
    trigger = models.CharField(max_length=12, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # The schedule slot (minute, UTC) a scheduled run was fired for; one run per slot.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    input = models.TextField(blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cache_write_tokens = models.PositiveBigIntegerField(default=0)
    cache_read_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal(0), help_text="Model cost plus runtime."
    )
    runtime_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    # Grading: the rubric version used, the final and first-pass overall scores
    # (None: not graded), and how many revision passes ran. Grader spend is kept
    # apart from the agent's cost_usd.
    rubric_version = models.ForeignKey(
        "RubricVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    score = models.FloatField(null=True, blank=True)
    first_pass_score = models.FloatField(null=True, blank=True)
    revisions = models.PositiveSmallIntegerField(default=0)
    grader_input_tokens = models.PositiveBigIntegerField(default=0)
    grader_output_tokens = models.PositiveBigIntegerField(default=0)
    grader_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    # Claims so far (a run whose worker died is claimed again) and the last sign of life.
    # Not to be confused with graded attempts (the Attempt model): one claim runs them all.
    attempt = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A webhook call's signature: the same signed request twice starts one run.
    delivery_id = models.CharField(max_length=64, blank=True)

    objects: ClassVar[AgencyQuerySet[Run]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["-queued_at"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["agent", "-queued_at"], name="run_agent_recent_idx"),
            models.Index(fields=["status", "queued_at"], name="run_status_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["agent", "scheduled_for"], name="run_once_per_slot"),
            models.UniqueConstraint(
                fields=["agent", "delivery_id"],
                condition=~models.Q(delivery_id=""),
                name="run_once_per_webhook_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} run {self.public_id}"

    @property
    def model_cost_usd(self) -> Decimal:
        return self.cost_usd - self.runtime_cost_usd

    @property
    def total_cost_usd(self) -> Decimal:
        return self.cost_usd + self.grader_cost_usd

    @property
    def outcome(self) -> str:
        """For charts and metrics: passed_first, passed_revised, failed, not_graded, or ""."""
        if self.rubric_version_id is None:
            return ""
        if self.status == self.Status.SUCCEEDED:
            return "passed_revised" if self.revisions else "passed_first"
        if self.status == self.Status.FAILED_GRADE:
            return "failed"
        if self.status == self.Status.NOT_GRADED:
            return "not_graded"
        return ""

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now()
        return (end - self.started_at).total_seconds()


class RunEvent(models.Model):
    """Append-only trace of a run: model calls, tool calls, retries, errors."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=40)
    data = models.JSONField(default=dict)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_write_tokens = models.PositiveIntegerField(default=0)
    cache_read_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[RunEvent]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["run", "seq"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["run", "seq"], name="run_event_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq}"


class RunArtifact(models.Model):
    """A file the agent left in its workspace, kept when the run ended (size-capped)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=500)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    created_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[RunArtifact]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["run", "path"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["run", "path"], name="run_artifact_path_unique"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class RubricVersion(models.Model):
    """An immutable rubric as saved: every save of an agent's rubric publishes one.

    The agent's rubric is its newest version. `source` is the YAML as typed (kept
    for the editor); `definition` is the checked, normalised form grading uses.
    """

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="rubric_versions")
    number = models.PositiveIntegerField()
    source = models.TextField()
    definition = models.JSONField()
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: ClassVar[AgencyQuerySet[RubricVersion]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["agent", "-number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["agent", "number"], name="rubric_version_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent.name} rubric v{self.number}"


class Attempt(models.Model):
    """One pass at a run's deliverable: the first, then a revision per failed grade."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    # What the grader asked this pass to fix (empty for the first pass).
    feedback = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    started_at = models.DateTimeField(default=now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[AgencyQuerySet[Attempt]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["run", "number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["run", "number"], name="attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.run_id}"


class Grade(models.Model):
    """The grader's verdict on one attempt under one rubric version (at most one each)."""

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Not graded"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="grades")
    rubric_version = models.ForeignKey(RubricVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=6, choices=Status.choices)
    score = models.FloatField(null=True, blank=True)
    # [{key, score, passed, evidence, feedback}] in the rubric's order.
    verdicts = models.JSONField(default=list, blank=True)
    # Overall score of each grader sample (three near the floor, else one).
    samples = models.JSONField(default=list, blank=True)
    grader_model = models.CharField(max_length=100)
    calls = models.PositiveSmallIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[Grade]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["attempt", "created_at"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["attempt", "rubric_version"], name="grade_once_per_rubric_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} {self.score}"


class AlertChannel(models.Model):
    """Where an agency's alerts go: an email address, a Slack-style webhook, a signed webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack incoming webhook"
        WEBHOOK = "webhook", "Signed webhook"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    target = models.CharField(
        max_length=500, help_text="An email address, or the https:// URL to POST to."
    )
    # Signs "signed webhook" deliveries; shown once when created, never again.
    secret = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=now, editable=False)

    objects: ClassVar[AgencyQuerySet[AlertChannel]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def shown_target(self) -> str:
        """The target as pages may show it: a webhook URL carries its own token (Slack's
        path is the credential), so only its host is shown; an email address in full."""
        if self.kind == self.Kind.EMAIL:
            return self.target
        host = urlsplit(self.target).hostname
        return f"{host} (URL hidden)" if host else "(URL hidden)"


class AlertRule(models.Model):
    """A condition watched for every agent of the agency (or one agent)."""

    class Kind(models.TextChoices):
        BELOW_FLOOR = "below_floor", "7-day average grade below the floor"
        CONSECUTIVE_FAILURES = "failures", "Consecutive failed runs"
        DEAD_MAN = "dead_man", "No successful run by fire time + grace"
        RUN_ERRORS = "run_errors", "A run ended in an error"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="alert_rules")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every agent of the agency.",
    )
    threshold = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1)],
        help_text="Consecutive failures: how many. Dead-man: grace in minutes.",
    )
    pause_agent = models.BooleanField(
        default=False, help_text="Consecutive failures only: pause the agent when it fires."
    )
    channels = models.ManyToManyField(AlertChannel, blank=True, related_name="rules")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now, editable=False)
    # Why the last evaluation could not check this rule (for some agent or at all), in
    # words fit for the alerts page; since when. Cleared by the next clean evaluation.
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects: ClassVar[AgencyQuerySet[AlertRule]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["kind", "pk"]

    def __str__(self) -> str:
        return self.get_kind_display()


class Alert(models.Model):
    """One incident: opened once when a rule's condition starts, resolved when it stops."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="alerts")
    message = models.TextField()
    resolution = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # [{at, event, channel, ok, detail}] for each notification attempt.
    deliveries = models.JSONField(default=list, blank=True)

    objects: ClassVar[AgencyQuerySet[Alert]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["-opened_at"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["rule", "agent"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_alert_per_rule_and_agent",
            ),
        ]

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------ memory


class MemoryStore(models.Model):
    """An agent's memory, or (agent empty) the agency playbook that every agent reads."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="memory_stores")
    agent = models.OneToOneField(
        Agent, null=True, blank=True, on_delete=models.CASCADE, related_name="memory_store"
    )
    created_at = models.DateTimeField(default=now, editable=False)

    objects: ClassVar[AgencyQuerySet[MemoryStore]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["agency"],
                condition=models.Q(agent__isnull=True),
                name="one_playbook_per_agency",
            ),
        ]

    def __str__(self) -> str:
        return f"Memory of {self.agent.name}" if self.agent else "Agency playbook"


class Memory(models.Model):
    """A titled Markdown note. Never deleted: superseded or expired, kept in history."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUPERSEDED = "superseded", "Superseded"
        EXPIRED = "expired", "Expired"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(MemoryStore, on_delete=models.CASCADE, related_name="memories")
    key = models.CharField(max_length=200, help_text="A path, such as client/preferences/tone.")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown.")
    tags = models.JSONField(default=list, blank=True)
    weight = models.FloatField(default=1.0)
    pinned = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Provenance: the runs this note rests on.
    source_runs = models.ManyToManyField(Run, blank=True, related_name="+")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[Memory]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["key"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["store", "key"],
                condition=models.Q(status="active"),
                name="one_active_memory_per_key",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        """Active and not past its expiry: what runs and dreams see."""
        return self.status == self.Status.ACTIVE and (
            self.expires_at is None or self.expires_at > now()
        )


class MemoryVersion(models.Model):
    """A memory as it stood after one change, who made it and why."""

    class Actor(models.TextChoices):
        RUN = "run", "Run"
        DREAM = "dream", "Dream"
        PERSON = "person", "Person"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # created, edited, superseded, expired, reweighted, pinned, unpinned, restored.
    operation = models.CharField(max_length=12)
    # {key, title, body, tags, weight, pinned, expires_at, status} after the change.
    state = models.JSONField()
    actor = models.CharField(max_length=6, choices=Actor.choices)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dream = models.ForeignKey(
        "Dream", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[MemoryVersion]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["memory", "-number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["memory", "number"], name="memory_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.memory} v{self.number}"


class Dream(models.Model):
    """One curation pass over an agent's memory: what it read, what it proposed, its cost."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Changes proposed"
        NO_CHANGE = "no_change", "No change"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Dream now"

    FINISHED = frozenset({Status.COMPLETED, Status.NO_CHANGE, Status.FAILED})

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="dreams")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    model = models.CharField(max_length=100, blank=True)
    review_mode = models.CharField(max_length=10, blank=True)
    # The runs it read (the evidence it could cite), and how many notes it saw.
    runs = models.ManyToManyField(Run, blank=True, related_name="+")
    notes_read = models.PositiveIntegerField(default=0)
    prompt = models.TextField(blank=True)
    answer = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # [{type, data, tokens..., cost_usd}] of its model calls, like a run's trace.
    trace = models.JSONField(default=list, blank=True)
    applied = models.PositiveSmallIntegerField(default=0)
    queued = models.PositiveSmallIntegerField(default=0)
    refused = models.PositiveSmallIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    queued_at = models.DateTimeField(default=now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[AgencyQuerySet[Dream]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["-queued_at"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["agent", "scheduled_for"], name="dream_once_per_slot"),
        ]

    def __str__(self) -> str:
        return f"Dream of {self.agent.name} {self.queued_at:%Y-%m-%d}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def review_mode_label(self) -> str:
        return dict(Agent.ReviewMode.choices).get(self.review_mode, "") or "-"


class MemoryProposal(models.Model):
    """One change a dream or a run proposed: applied, waiting for review, or refused."""

    class Operation(models.TextChoices):
        ADD = "add", "Add"
        EDIT = "edit", "Edit"
        SUPERSEDE = "supersede", "Supersede"
        EXPIRE = "expire", "Expire"
        REWEIGHT = "reweight", "Reweight"

    class Status(models.TextChoices):
        # A run's proposal waits for the run's grade before it counts.
        HELD = "held", "Held until the run is graded"
        PENDING = "pending", "Waiting for review"
        APPLIED = "applied", "Applied"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        REFUSED = "refused", "Refused"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(MemoryStore, on_delete=models.CASCADE, related_name="proposals")
    dream = models.ForeignKey(
        Dream, null=True, blank=True, on_delete=models.CASCADE, related_name="proposals"
    )
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.CASCADE, related_name="memory_proposals"
    )
    operation = models.CharField(max_length=10, choices=Operation.choices)
    # The note it changes (edit, supersede, expire, reweight), as it was when proposed.
    memory = models.ForeignKey(
        Memory, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    base_version = models.PositiveIntegerField(null=True, blank=True)
    # The change as proposed (MemoryChange.as_dict()), edited by a reviewer if so.
    change = models.JSONField()
    rationale = models.TextField()
    evidence = models.ManyToManyField(Run, blank=True, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices)
    refusal = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    objects: ClassVar[AgencyQuerySet[MemoryProposal]] = AgencyQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_operation_display()} {self.change.get('key', '')}"
