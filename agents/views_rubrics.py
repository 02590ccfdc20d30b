"""The rubric editor: YAML with live checking, a form for people who do not write YAML,
starters, copying from another agent, and the version history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agents import grading, rubric_library, services
from agents.engine.rubric import (
    Criterion,
    Problem,
    Rubric,
    RubricError,
    dump_rubric,
    load_rubric,
    soft_average_needed,
)
from agents.forms import CriterionFormSet, RubricSettingsForm
from agents.models import Agent, RubricVersion
from clients.models import Role
from clients.services import ServiceError
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required

STARTER_HINT = "# Pick a starter below, or write criteria here. The format is in the README.\n"


def check_context(text: str) -> dict[str, Any]:
    """Problems with `text` (each with line and field), or a preview of its scoring."""
    try:
        rubric = load_rubric(text)
    except RubricError as exc:
        return {"problems": exc.problems}
    return {"preview": rubric, "soft_needed": soft_average_needed(rubric)}


def _editor_context(
    request: AgencyRequest,
    agent: Agent,
    text: str,
    current: RubricVersion | None,
    **extra: Any,
) -> dict[str, Any]:
    versions = RubricVersion.objects.for_agency(request.agency).filter(agent=agent)
    others = (
        Agent.objects.for_agency(request.agency)
        .filter(archived_at__isnull=True, rubric_versions__isnull=False)
        .exclude(pk=agent.pk)
        .select_related("client")
        .distinct()
        .order_by("client__name", "name")
    )
    return {
        "agent": agent,
        "text": text,
        "versions": versions.select_related("created_by").order_by("-number"),
        "current": current,
        "starters": rubric_library.starters(),
        "others": others,
        **check_context(text),
        **extra,
    }


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rubric_edit(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    current = grading.current_rubric(agent.pk)
    if request.method == "POST":
        text = request.POST.get("source", "")
        try:
            version = services.save_rubric(
                agent, text, request.user, note=request.POST.get("note", "")
            )
        except RubricError:
            # Nothing saved; the text stays in the editor with every problem listed.
            messages.error(request, "The rubric was not saved: fix the problems listed.")
            return render(
                request,
                "agents/rubric_edit.html",
                _editor_context(request, agent, text, current),
                status=400,
            )
        if current is not None and version.pk == current.pk:
            messages.info(request, "No change: the rubric is already this text.")
        else:
            messages.success(request, f"Rubric version {version.number} published.")
        return redirect("agent-rubric", agency_slug=request.agency.slug, agent_id=agent.public_id)
    starter = rubric_library.starter(request.GET.get("starter", ""))
    text = current.source if current else STARTER_HINT
    if starter is not None:
        text = starter.text
    context = _editor_context(request, agent, text, current, starter=starter)
    if starter is None and current is not None and context.get("problems"):
        # Saved before a check was added (anchors, the size limit): it still grades
        # as published; only saving this text again needs the problems fixed.
        messages.warning(
            request,
            f"Version {current.number} was saved before today's checks. Runs are still "
            "graded against it as published; fix the problems listed to save its text again.",
        )
    return render(request, "agents/rubric_edit.html", context)


@role_required(Role.ADMIN)
@require_POST
def rubric_check(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    """The live check under the editor: htmx posts the text as it is typed."""
    get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    context = check_context(request.POST.get("source", ""))
    return render(request, "agents/rubric_edit.html#rubric-check", context)


@role_required(Role.ADMIN)
@require_POST
def rubric_copy(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    source = get_for_agency_or_404(Agent, request.agency, public_id=request.POST.get("source"))
    try:
        version = services.copy_rubric(source, agent, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Copied {source.name}'s rubric: version {version.number} published."
        )
    return redirect("agent-rubric", agency_slug=request.agency.slug, agent_id=agent.public_id)


def _form_initial(rubric: Rubric | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if rubric is None:
        return {}, []
    settings = {
        "floor": rubric.floor,
        "max_revisions": rubric.max_revisions,
        "revision_cost_cap_usd": rubric.revision_cost_cap_usd,
        "regrade_margin": rubric.regrade_margin,
    }
    criteria = [
        {
            "key": c.key,
            "description": c.description,
            "kind": c.kind,
            "weight": c.weight,
            "bands": "\n".join(f"{k}: {v}" for k, v in c.bands.items()),
        }
        for c in rubric.criteria
    ]
    return settings, criteria


def _form_yaml(settings: dict[str, Any], criteria: list[dict[str, Any]]) -> str:
    """The form's fields in the documented YAML; save_rubric then checks it like typed YAML."""
    cap = settings.get("revision_cost_cap_usd")
    rubric = Rubric(
        tuple(
            Criterion(c["key"], c["description"], c["weight"], c["kind"], c["bands"])
            for c in criteria
        ),
        floor=settings["floor"],
        max_revisions=settings["max_revisions"],
        revision_cost_cap_usd=Decimal(cap) if cap is not None else None,
        regrade_margin=settings.get("regrade_margin") or 0.0,
    )
    return dump_rubric(rubric)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def rubric_form(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    """The same rubric as fields; saving writes YAML and goes through the same check."""
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    current = grading.current_rubric(agent.pk)
    problems: list[Problem] = []
    try:
        saved = grading.rubric_of(current) if current else None
    except RubricError as exc:  # a saved definition that no longer checks: say why
        saved, problems = None, exc.problems
    initial_settings, initial_criteria = _form_initial(saved)
    settings_form = RubricSettingsForm(request.POST or None, initial=initial_settings)
    formset = CriterionFormSet(request.POST or None, initial=initial_criteria, prefix="c")
    if request.method == "POST" and settings_form.is_valid() and formset.is_valid():
        criteria = [f.cleaned_data for f in formset.forms if f.has_changed() or f.initial]
        criteria = [c for c in criteria if c and not c.get("DELETE")]
        text = _form_yaml(settings_form.cleaned_data, criteria)
        try:
            version = services.save_rubric(agent, text, request.user, note="Edited in the form")
        except RubricError as exc:
            problems = exc.problems
        else:
            messages.success(request, f"Rubric version {version.number} published.")
            return redirect(
                "agent-rubric", agency_slug=request.agency.slug, agent_id=agent.public_id
            )
    context = {
        "agent": agent,
        "settings_form": settings_form,
        "formset": formset,
        "problems": problems,
        "current": current,
    }
    return render(
        request, "agents/rubric_form.html", context, status=400 if request.method == "POST" else 200
    )
