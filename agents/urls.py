"""Agent and run URLs, mounted under /a/<agency_slug>/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from agents import views, views_alerts, views_memory, views_rubrics

urlpatterns: list[URLPattern | URLResolver] = [
    path("agents/", views.agent_list, name="agent-list"),
    path("agents/new/", views.agent_create, name="agent-create"),
    path("agents/schedule-preview/", views.schedule_preview, name="agent-schedule-preview"),
    path("agents/<uuid:agent_id>/", views.agent_detail, name="agent-detail"),
    path("agents/<uuid:agent_id>/edit/", views.agent_edit, name="agent-edit"),
    path("agents/<uuid:agent_id>/run/", views.agent_run_now, name="agent-run-now"),
    path("agents/<uuid:agent_id>/webhook/", views.agent_webhook, name="agent-webhook"),
    path("agents/<uuid:agent_id>/rubric/", views_rubrics.rubric_edit, name="agent-rubric"),
    path(
        "agents/<uuid:agent_id>/rubric/check/",
        views_rubrics.rubric_check,
        name="agent-rubric-check",
    ),
    path(
        "agents/<uuid:agent_id>/rubric/form/", views_rubrics.rubric_form, name="agent-rubric-form"
    ),
    path(
        "agents/<uuid:agent_id>/rubric/copy/", views_rubrics.rubric_copy, name="agent-rubric-copy"
    ),
    path("agents/<uuid:agent_id>/memory/", views_memory.agent_memory, name="agent-memory"),
    path(
        "agents/<uuid:agent_id>/memory/new/",
        views_memory.agent_memory_create,
        name="agent-memory-create",
    ),
    path("agents/<uuid:agent_id>/dreams/", views_memory.dream_list, name="dream-list"),
    path("agents/<uuid:agent_id>/dreams/new/", views_memory.dream_now, name="dream-now"),
    path("dreams/<uuid:dream_id>/", views_memory.dream_detail, name="dream-detail"),
    path("playbook/", views_memory.playbook, name="playbook"),
    path("playbook/new/", views_memory.playbook_create, name="playbook-create"),
    path("memory/review/", views_memory.review_queue, name="memory-review"),
    path("memory/review/bulk/", views_memory.review_bulk, name="memory-review-bulk"),
    path(
        "memory/proposals/<uuid:proposal_id>/",
        views_memory.proposal_decide,
        name="proposal-decide",
    ),
    path(
        "memory/proposals/<uuid:proposal_id>/edit/",
        views_memory.proposal_edit,
        name="proposal-edit",
    ),
    path("memory/<uuid:memory_id>/", views_memory.memory_detail, name="memory-detail"),
    path("memory/<uuid:memory_id>/edit/", views_memory.memory_edit, name="memory-edit"),
    path("memory/<uuid:memory_id>/expire/", views_memory.memory_expire, name="memory-expire"),
    path("memory/<uuid:memory_id>/restore/", views_memory.memory_restore, name="memory-restore"),
    path(
        "memory/stores/<uuid:store_id>/rollback/",
        views_memory.store_rollback,
        name="memory-store-rollback",
    ),
    path("alerts/", views_alerts.alert_list, name="alert-list"),
    path("alerts/rules/", views_alerts.rule_create, name="alert-rule-create"),
    path("alerts/rules/<uuid:rule_id>/delete/", views_alerts.rule_delete, name="alert-rule-delete"),
    path("alerts/channels/", views_alerts.channel_create, name="alert-channel-create"),
    path(
        "alerts/channels/<uuid:channel_id>/delete/",
        views_alerts.channel_delete,
        name="alert-channel-delete",
    ),
    path("runs/<uuid:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run-cancel"),
    path(
        "runs/<uuid:run_id>/artifacts/<uuid:artifact_id>/",
        views.artifact_download,
        name="run-artifact",
    ),
]
