"""Agent and run URLs, mounted under /a/<agency_slug>/."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from agents import views, views_alerts, views_rubrics

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
