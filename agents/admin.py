"""Operator admin for agents, runs and the pricing table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from agencyops.admin_security import SecretSafeAdmin
from agents import services
from agents.models import (
    Agent,
    AgentVersion,
    Alert,
    AlertChannel,
    AlertRule,
    Attempt,
    Dream,
    Grade,
    Memory,
    MemoryProposal,
    MemoryStore,
    MemoryVersion,
    ModelPrice,
    RubricVersion,
    Run,
    RunArtifact,
    RunEvent,
)


class ReadOnlyAdmin(SecretSafeAdmin):
    """Records of what happened: browsed and searched here, never edited."""

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(ModelPrice)
class ModelPriceAdmin(SecretSafeAdmin):
    list_display = (
        "label",
        "model",
        "input_per_mtok",
        "output_per_mtok",
        "cache_write_per_mtok",
        "cache_read_per_mtok",
        "active",
    )
    list_editable = (
        "input_per_mtok",
        "output_per_mtok",
        "cache_write_per_mtok",
        "cache_read_per_mtok",
        "active",
    )
    list_filter = ("active",)
    search_fields = ("model", "label")


@admin.register(Agent)
class AgentAdmin(SecretSafeAdmin):
    list_display = ("name", "client", "agency", "model", "enabled", "created_at")
    list_filter = ("enabled", "model", ("archived_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "client__name", "agency__name")
    list_select_related = ("client", "agency", "model")
    raw_id_fields = ("agency", "client")
    readonly_fields = ("public_id", "created_at", "updated_at")

    def save_model(self, request: Any, obj: Agent, form: Any, change: bool) -> None:
        # Through the service, so the schedule and the version history stay in step.
        services.save_agent(obj, request.user)


@admin.register(AgentVersion)
class AgentVersionAdmin(ReadOnlyAdmin):
    list_display = ("agent", "number", "created_at", "created_by")
    search_fields = ("agent__name",)
    list_filter = ("created_at",)
    list_select_related = ("agent", "created_by")
    raw_id_fields = ("agency", "agent", "created_by")
    readonly_fields = ("agency", "agent", "number", "definition", "created_at", "created_by")


class RunEventInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RunEvent
    extra = 0
    can_delete = False
    fields = ("seq", "type", "duration_ms", "cost_usd", "input_tokens", "output_tokens")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(SecretSafeAdmin):
    list_display = ("agent", "status", "trigger", "queued_at", "finished_at", "cost_usd")
    list_filter = ("status", "trigger")
    search_fields = ("agent__name", "agent__client__name", "public_id")
    list_select_related = ("agent",)
    raw_id_fields = ("agency", "agent", "version", "triggered_by")
    readonly_fields = (
        "public_id",
        "queued_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "attempt",
        "cost_usd",
        "runtime_cost_usd",
        "delivery_id",
    )
    inlines = (RunEventInline,)


@admin.register(RunEvent)
class RunEventAdmin(SecretSafeAdmin):
    list_display = ("run", "seq", "type", "duration_ms", "cost_usd")
    list_filter = ("type",)
    search_fields = ("run__agent__name", "type")
    raw_id_fields = ("agency", "run")


@admin.register(RunArtifact)
class RunArtifactAdmin(SecretSafeAdmin):
    list_display = ("path", "run", "size", "created_at")
    search_fields = ("path", "run__agent__name")
    list_filter = ("created_at",)
    raw_id_fields = ("agency", "run")
    # The bytes are downloaded from the run page; the admin shows what exists.
    exclude = ("content",)
    readonly_fields = ("agency", "run", "path", "size", "created_at")

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(RubricVersion)
class RubricVersionAdmin(ReadOnlyAdmin):
    list_display = ("agent", "number", "note", "created_at", "created_by")
    search_fields = ("agent__name", "note")
    list_select_related = ("agent", "created_by")


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyAdmin):
    list_display = ("run", "number", "status", "cost_usd", "finished_at")
    search_fields = ("run__public_id", "run__agent__name")
    list_select_related = ("run", "run__agent")


@admin.register(Grade)
class GradeAdmin(ReadOnlyAdmin):
    list_display = ("attempt", "status", "score", "grader_model", "calls", "cost_usd")
    list_filter = ("status",)
    search_fields = ("attempt__run__public_id", "grader_model")
    list_select_related = ("attempt", "attempt__run", "attempt__run__agent")


@admin.register(AlertChannel)
class AlertChannelAdmin(SecretSafeAdmin):
    # `secret` is editable=False, so it is never shown here. A Slack or webhook
    # target URL is itself a credential: only its host is shown, and channels are
    # created in the app, which checks the URL and shows a signing secret once.
    list_display = ("name", "kind", "target_host", "agency")
    list_filter = ("kind",)
    search_fields = ("name", "agency__name")
    raw_id_fields = ("agency",)
    exclude = ("target",)
    readonly_fields = ("kind", "target_host")

    def has_add_permission(self, request: Any) -> bool:
        return False

    @admin.display(description="target")
    def target_host(self, obj: AlertChannel) -> str:
        return obj.shown_target


@admin.register(AlertRule)
class AlertRuleAdmin(SecretSafeAdmin):
    list_display = ("kind", "agent", "threshold", "enabled", "agency")
    list_filter = ("kind", "enabled")
    search_fields = ("agency__name", "agent__name")
    raw_id_fields = ("agency", "agent")


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ("agent", "rule", "opened_at", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    search_fields = ("agent__name", "message")
    list_select_related = ("agent", "rule")


# Memory is read-only here: every change must go through agents/memory.py, which
# records a version with who made it and why.


@admin.register(MemoryStore)
class MemoryStoreAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "agency", "created_at")
    list_filter = ("agency",)


@admin.register(Memory)
class MemoryAdmin(ReadOnlyAdmin):
    list_display = ("key", "title", "store", "status", "weight", "pinned", "version", "updated_at")
    list_filter = ("status", "pinned", "agency")
    search_fields = ("key", "title", "body")


@admin.register(MemoryVersion)
class MemoryVersionAdmin(ReadOnlyAdmin):
    list_display = ("memory", "number", "operation", "actor", "created_at")
    list_filter = ("operation", "actor", "agency")


@admin.register(MemoryProposal)
class MemoryProposalAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "store", "status", "dream", "run", "created_at")
    list_filter = ("status", "operation", "agency")


@admin.register(Dream)
class DreamAdmin(ReadOnlyAdmin):
    list_display = (
        "agent",
        "status",
        "trigger",
        "applied",
        "queued",
        "refused",
        "cost_usd",
        "queued_at",
    )
    list_filter = ("status", "trigger", "agency")
    search_fields = ("agent__name", "error", "reason")
