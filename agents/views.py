"""Agent and run pages."""

from __future__ import annotations

from uuid import UUID

import markdown
import nh3
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import F, OuterRef, Subquery, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agencyops.params import positive_int
from agents import costs, dreams, grading, quality, scheduling, services, webhooks
from agents import memory as memories
from agents.engine.memory import select_window
from agents.forms import AgentForm
from agents.models import (
    Agent,
    AgentVersion,
    Dream,
    MemoryProposal,
    Run,
    RunArtifact,
    RunEvent,
)
from clients.models import Client, Role
from clients.services import ServiceError
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required
from clients.views.rendering import render_region, wants_region


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
                .annotate(total=Sum(F("cost_usd") + F("grader_cost_usd")))
                .values("total")
            )
        )
        .order_by("client__name", "name")
    )
    rows = [(agent, *scheduling.schedule_summary(agent)) for agent in agents]
    context = {"rows": rows, "can_edit": request.membership.has_role(Role.ADMIN)}
    return render(request, "agents/agent_list.html", context)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def agent_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return _agent_form(request, None)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def agent_edit(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    return _agent_form(request, get_for_agency_or_404(Agent, request.agency, public_id=agent_id))


def _agent_form(request: AgencyRequest, agent: Agent | None) -> HttpResponse:
    """The agent form, new (`agent` None) or editing; saving goes through the service."""
    instance = agent or Agent(agency=request.agency)
    form = AgentForm(request.POST or None, agency=request.agency, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_agent(form.instance, request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if agent is None:
                messages.success(request, f"{saved.name} is set up. Run it now to see it work.")
            else:
                messages.success(request, f"{saved.name} saved.")
            return redirect(
                "agent-detail", agency_slug=request.agency.slug, agent_id=saved.public_id
            )
    if form.errors and agent is not None:
        agent.refresh_from_db()  # validation wrote the typed values; show the saved name
    return render(request, "agents/agent_form.html", {"form": form, "agent": agent})


def schedule_preview_context(
    request: AgencyRequest, cron: str, tz_name: str, client_pk: str
) -> dict[str, object]:
    """What the schedule means, and when it fires next, for the form and the agent page."""
    if not cron.strip():
        return {"preview_note": "No schedule: the agent runs only when someone presses Run now."}
    pk = positive_int(client_pk)
    client = Client.objects.for_agency(request.agency).filter(pk=pk).first() if pk else None
    tz_name = tz_name.strip() or (client.timezone if client else "UTC")
    try:
        schedule = scheduling.parse_schedule(cron, tz_name)
    except scheduling.ScheduleError as exc:
        return {"preview_error": str(exc)}
    fires = [scheduling.format_fire(f) for f in scheduling.next_fires(schedule)]
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


RUNS_PER_PAGE = 25


def agent_detail_context(request: AgencyRequest, agent: Agent) -> dict[str, object]:
    runs = Run.objects.for_agency(request.agency).filter(agent=agent)
    status = request.GET.get("status", "")
    if status in Run.Status.values:
        runs = runs.filter(status=status)
    else:
        status = ""
    rubric = grading.current_rubric(agent.pk)
    page = Paginator(
        runs.select_related("version", "rubric_version").order_by("-queued_at", "-pk"),
        RUNS_PER_PAGE,
    )
    return {
        "agent": agent,
        "version": AgentVersion.objects.for_agency(request.agency).filter(agent=agent).first(),
        "rubric": rubric,
        "monthly_costs": costs.monthly_costs(
            Run.objects.for_agency(request.agency).filter(agent=agent),
            Dream.objects.for_agency(request.agency).filter(agent=agent),
        ),
        "page": page.get_page(request.GET.get("page")),
        "status_filter": status,
        "statuses": Run.Status.choices,
        "endpoint": services.model_endpoint()[1],
        "tool_labels": [label for value, label in AgentForm.tool_choices() if value in agent.tools],
        "webhook_url": request.build_absolute_uri(
            reverse("agent-webhook-receive", args=[request.agency.slug, agent.public_id])
        ),
        **schedule_preview_context(request, agent.schedule, agent.timezone, str(agent.client_id)),
        # Charts only for the whole page: htmx's run-history and webhook regions skip them.
        "quality": None
        if wants_region(request)
        else quality.agent_charts(agent, scheduling.agent_timezone(agent), rubric),
        "memory_summary": None if wants_region(request) else memory_summary(request, agent),
        "can_edit": request.membership.has_role(Role.ADMIN),
    }


def memory_summary(request: AgencyRequest, agent: Agent) -> dict[str, object]:
    """The agent page's Memory card."""
    store = memories.store_of(agent)
    notes = memories.notes_for(agent)
    return {
        "notes": sum(1 for n in notes if not n.playbook),
        "window": select_window(notes, agent.memory_token_budget),
        "pending": MemoryProposal.objects.for_agency(request.agency)
        .filter(store=store, status=MemoryProposal.Status.PENDING)
        .count(),
        "schedule": dreams.describe_dream_schedule(agent),
        "last_dream": Dream.objects.for_agency(request.agency)
        .filter(agent=agent)
        .defer("prompt", "answer", "trace")
        .first(),
    }


@require_GET
@vary_on_headers("HX-Request")
def agent_detail(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    context = agent_detail_context(request, agent)
    return render_region(request, "agents/agent_detail.html", "run-history", context)


@role_required(Role.ADMIN)
@require_POST
def agent_webhook(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    """Create, replace or remove the agent's webhook secret; a new one is shown this once."""
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    new_secret = ""
    if request.POST.get("action") == "remove":
        webhooks.remove_webhook_secret(agent)
        messages.success(request, "Webhook turned off; calls signed with the old secret now fail.")
    else:
        new_secret = webhooks.set_webhook_secret(agent)
    context = {**agent_detail_context(request, agent), "new_secret": new_secret}
    # Rendered, not redirected: the secret must not travel in a URL or the session.
    response = render_region(request, "agents/agent_detail.html", "webhook", context)
    response["Cache-Control"] = "no-store"
    return response


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
    """Markdown from the model as sanitized HTML.

    Raw HTML in the text is shown as text, not parsed: a report that mentions
    `<title>` must show it, and nh3 would drop it with what follows. nh3 then
    removes anything unsafe the Markdown itself produced.
    """
    md = markdown.Markdown(extensions=["tables", "sane_lists"])
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    return mark_safe(nh3.clean(md.convert(text)))  # noqa: S308 (sanitized by nh3)


@require_GET
@vary_on_headers("HX-Request")
def run_detail(request: AgencyRequest, agency_slug: str, run_id: UUID) -> HttpResponse:
    run = get_for_agency_or_404(Run, request.agency, public_id=run_id)
    events = RunEvent.objects.for_agency(request.agency).filter(run=run).order_by("seq")
    context = {
        "run": run,
        "agent": run.agent,
        "events": events,
        "artifacts": RunArtifact.objects.for_agency(request.agency)
        .filter(run=run)
        .defer("content"),
        "model_label": run.version.definition.get("model", ""),
        "runtime_rate": settings.RUNTIME_USD_PER_HOUR,
        "report": render_report(run.output) if run.output else "",
        "attempts": grading.attempt_summaries(run),
    }
    return render_region(request, "agents/run_detail.html", "run-live", context)


@require_GET
def artifact_download(
    request: AgencyRequest, agency_slug: str, run_id: UUID, artifact_id: UUID
) -> HttpResponse:
    artifact = get_for_agency_or_404(
        RunArtifact, request.agency, public_id=artifact_id, run__public_id=run_id
    )
    # Always an attachment, as plain bytes: an agent-written .html must not render
    # on our origin.
    response = HttpResponse(bytes(artifact.content), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, artifact.name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@csrf_exempt
@require_POST
def webhook_receive(request: HttpRequest, agency: str, agent_id: UUID) -> HttpResponse:
    """An outside system starts a run: a signed POST whose body becomes the run's input.

    No session: the signature is the credential (agents/webhooks.py).
    """
    try:
        run = webhooks.receive_webhook(
            agency,
            agent_id,
            request.headers.get("X-AgencyOps-Timestamp", ""),
            request.headers.get("X-AgencyOps-Signature", ""),
            request.body,
        )
    except webhooks.WebhookError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return JsonResponse({"run": str(run.public_id), "status": run.status}, status=202)
