"""Alerts: rules, channels, and the history of incidents."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from agents import alerts
from agents.forms import AlertChannelForm, AlertRuleForm
from agents.models import Alert, AlertChannel, AlertRule
from clients.models import Role
from clients.services import ServiceError
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required


def _context(request: AgencyRequest, **extra: Any) -> dict[str, Any]:
    history = (
        Alert.objects.for_agency(request.agency)
        .select_related("agent", "agent__client", "rule")
        .order_by("resolved_at", "-opened_at")  # open ones (NULL) first in PostgreSQL and SQLite
    )
    return {
        "page": Paginator(history, 50).get_page(request.GET.get("page")),
        "open_count": history.filter(resolved_at__isnull=True).count(),
        "rules": AlertRule.objects.for_agency(request.agency)
        .select_related("agent")
        .prefetch_related("channels"),
        "channels": AlertChannel.objects.for_agency(request.agency),
        "rule_form": AlertRuleForm(agency=request.agency),
        "channel_form": AlertChannelForm(),
        "can_edit": request.membership.has_role(Role.ADMIN),
        **extra,
    }


@require_GET
def alert_list(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return render(request, "agents/alerts.html", _context(request))


@role_required(Role.ADMIN)
@require_POST
def rule_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    form = AlertRuleForm(request.POST, agency=request.agency)
    if form.is_valid():
        try:
            alerts.create_rule(request.agency, form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Alert rule added; it is checked every minute.")
            return redirect("alert-list", agency_slug=request.agency.slug)
    return render(request, "agents/alerts.html", _context(request, rule_form=form), status=400)


@role_required(Role.ADMIN)
@require_POST
def rule_delete(request: AgencyRequest, agency_slug: str, rule_id: UUID) -> HttpResponse:
    alerts.delete_rule(get_for_agency_or_404(AlertRule, request.agency, public_id=rule_id))
    messages.success(request, "Alert rule removed, with its incidents.")
    return redirect("alert-list", agency_slug=request.agency.slug)


@role_required(Role.ADMIN)
@require_POST
def channel_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    form = AlertChannelForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            channel = alerts.create_channel(
                request.agency, data["name"], data["kind"], data["target"]
            )
        except ServiceError as exc:
            form.add_error("target", exc.message)
        else:
            response = render(request, "agents/alerts.html", _context(request, new_channel=channel))
            # The signing secret is in this page, once: never cache it.
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "agents/alerts.html", _context(request, channel_form=form), status=400)


@role_required(Role.ADMIN)
@require_POST
def channel_delete(request: AgencyRequest, agency_slug: str, channel_id: UUID) -> HttpResponse:
    alerts.delete_channel(get_for_agency_or_404(AlertChannel, request.agency, public_id=channel_id))
    messages.success(request, "Channel removed.")
    return redirect("alert-list", agency_slug=request.agency.slug)
