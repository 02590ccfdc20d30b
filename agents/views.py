"""Agent and run pages."""

from __future__ import annotations

from uuid import UUID

import markdown
import nh3
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery, Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agents import costs, scheduling, services
from agents.forms import AgentForm
from agents.models import Agent, AgentVersion, Run, RunEvent
from clients.models import Client, Role
from clients.services import ServiceError
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required
from clients.views.rendering import render_region


@require_GET
def agent_list(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    last_run = (
        Run.objects.for_agency(request.agency).filter(agent=OuterRef("pk")).order_by("-queued_at")
    )
    agents = (
        Agent.objects.for_agency(request.agency)
        .filter(archived_at__isnull=True)
        .select_related("client", "model")
        .annotate(last_status=Subquery(last_run.values("status")[:1]))
        .annotate(last_run_at=Subquery(last_run.values("queued_at")[:1]))
        .annotate(
            cost_this_month=Subquery(
                Run.objects.for_agency(request.agency)
                .filter(agent=OuterRef("pk"), queued_at__gte=costs.month_start())
                .values("agent")
                .annotate(total=Sum("cost_usd"))
                .values("total")
            )
        )
        .order_by("client__name", "name")
    )
    context = {"agents": agents, "can_edit": request.membership.has_role(Role.ADMIN)}
    return render(request, "agents/agent_list.html", context)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def agent_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    form = AgentForm(
        request.POST or None, agency=request.agency, instance=Agent(agency=request.agency)
    )
    if request.method == "POST" and form.is_valid():
        try:
            agent = services.save_agent(form.instance, request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{agent.name} is set up. Run it now to see it work.")
            return redirect(
                "agent-detail", agency_slug=request.agency.slug, agent_id=agent.public_id
            )
    return render(request, "agents/agent_form.html", {"form": form, "agent": None})


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def agent_edit(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    form = AgentForm(request.POST or None, agency=request.agency, instance=agent)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_agent(form.instance, request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{agent.name} saved.")
            return redirect(
                "agent-detail", agency_slug=request.agency.slug, agent_id=agent.public_id
            )
    if form.errors:
        agent.refresh_from_db()
    return render(request, "agents/agent_form.html", {"form": form, "agent": agent})


def schedule_preview_context(
    request: AgencyRequest, cron: str, tz_name: str, client_pk: str
) -> dict[str, object]:
    """What the schedule means, and when it fires next, for the form and the agent page."""
    if not cron.strip():
        return {"preview_note": "No schedule: the agent runs only when someone presses Run now."}
    client = (
        Client.objects.for_agency(request.agency).filter(pk=client_pk).first()
        if client_pk.isdigit()
        else None
    )
    tz_name = tz_name.strip() or (client.timezone if client else "UTC")
    try:
        schedule = scheduling.parse_schedule(cron, tz_name)
    except scheduling.ScheduleError as exc:
        return {"preview_error": str(exc)}
    # Formatted here: the template's date filter would convert them to the server's zone.
    fires = [f"{f:%a} {f.day} {f:%b %Y, %H:%M %Z}" for f in scheduling.next_fires(schedule)]
    return {"preview_description": scheduling.describe(schedule), "preview_fires": fires}


@require_GET
def schedule_preview(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    """The live "in words, and the next five fires" line under the schedule field."""
    context = schedule_preview_context(
        request,
        request.GET.get("schedule", ""),
        request.GET.get("timezone", ""),
        request.GET.get("client", ""),
    )
    return render(request, "agents/agent_form.html#schedule-preview", context)


@require_GET
def agent_detail(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    context = {
        "agent": agent,
        "version": AgentVersion.objects.for_agency(request.agency).filter(agent=agent).first(),
        "monthly_costs": costs.monthly_costs(
            Run.objects.for_agency(request.agency).filter(agent=agent)
        ),
        "runs": Run.objects.for_agency(request.agency)
        .filter(agent=agent)
        .select_related("version")[:25],
        "endpoint": services.model_endpoint()[1],
        **schedule_preview_context(request, agent.schedule, agent.timezone, str(agent.client_id)),
        "can_edit": request.membership.has_role(Role.ADMIN),
    }
    return render(request, "agents/agent_detail.html", context)


@require_POST
def agent_run_now(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    try:
        run = services.trigger_run(agent, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("agent-detail", agency_slug=request.agency.slug, agent_id=agent.public_id)
    return redirect("run-detail", agency_slug=request.agency.slug, run_id=run.public_id)


@require_POST
def run_cancel(request: AgencyRequest, agency_slug: str, run_id: UUID) -> HttpResponse:
    run = get_for_agency_or_404(Run, request.agency, public_id=run_id)
    if services.cancel_run(run, request.user):
        messages.success(request, "Run cancelled. A running run stops at its next step.")
    else:
        messages.error(request, "This run had already ended.")
    return redirect("run-detail", agency_slug=request.agency.slug, run_id=run.public_id)


def render_report(text: str) -> str:
    """Markdown from the model, as sanitized HTML (no scripts, styles or event handlers)."""
    return mark_safe(nh3.clean(markdown.markdown(text, extensions=["tables", "sane_lists"])))  # noqa: S308 (sanitized by nh3)


@require_GET
@vary_on_headers("HX-Request")
def run_detail(request: AgencyRequest, agency_slug: str, run_id: UUID) -> HttpResponse:
    run = get_for_agency_or_404(Run, request.agency, public_id=run_id)
    events = RunEvent.objects.for_agency(request.agency).filter(run=run).order_by("seq")
    context = {
        "run": run,
        "agent": run.agent,
        "events": events,
        "report": render_report(run.output) if run.output else "",
    }
    return render_region(request, "agents/run_detail.html", "run-live", context)
