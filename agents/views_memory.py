"""Memory pages: an agent's notes and the playbook, a note's history, the review queue, dreams."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agencyops.params import positive_int
from agents import dreams
from agents import memory as memories
from agents.forms import MemoryForm, ProposalEditForm
from agents.models import (
    Agent,
    Dream,
    Memory,
    MemoryProposal,
    MemoryStore,
    MemoryVersion,
)
from agents.views import render_report
from clients.services import ServiceError
from clients.tenancy import AgencyRequest, get_for_agency_or_404
from clients.views.rendering import render_region, wants_region

# ------------------------------------------------------------------ the browser


def _store_url(request: AgencyRequest, store: MemoryStore) -> str:
    if store.agent is None:
        return reverse("playbook", args=[request.agency.slug])
    return reverse("agent-memory", args=[request.agency.slug, store.agent.public_id])


def _browser(request: AgencyRequest, store: MemoryStore) -> HttpResponse:
    notes = Memory.objects.for_agency(request.agency).filter(store=store)
    query = request.GET.get("q", "").strip()
    tag = request.GET.get("tag", "").strip()
    show = request.GET.get("show", "active")
    if show != "all":
        show = "active"
        notes = notes.filter(status=Memory.Status.ACTIVE)
    if query:
        notes = notes.filter(
            Q(key__icontains=query) | Q(title__icontains=query) | Q(body__icontains=query)
        )
    # Tags are a JSON list; filtered in Python so SQLite and PostgreSQL agree.
    listed = [n for n in notes.order_by("-pinned", "-weight", "key") if not tag or tag in n.tags]
    tag_lists = (
        Memory.objects.for_agency(request.agency).filter(store=store).values_list("tags", flat=True)
    )
    all_tags = sorted({t for tags in tag_lists for t in tags})
    agent = store.agent
    context: dict[str, Any] = {
        "store": store,
        "agent": agent,
        "notes": listed,
        "query": query,
        "tag": tag,
        "show": show,
        "all_tags": all_tags,
        "store_url": _store_url(request, store),
    }
    if wants_region(request):
        return render_region(request, "agents/memory_browser.html", "note-list", context)
    # The rest of the page: not for the list's search-as-you-type swaps.
    context["history"] = (
        MemoryVersion.objects.for_agency(request.agency)
        .filter(memory__store=store)
        .select_related("memory", "user", "run", "dream")
        .order_by("-pk")[:25]
    )
    context["pending"] = (
        MemoryProposal.objects.for_agency(request.agency)
        .filter(store=store, status=MemoryProposal.Status.PENDING)
        .count()
    )
    if agent is not None:
        context["window"] = memories.window_for(agent)
        context["dreams"] = _dream_rows(request, agent)[:5]
        context["dream_schedule"] = dreams.describe_dream_schedule(agent)
    return render_region(request, "agents/memory_browser.html", "note-list", context)


@require_GET
@vary_on_headers("HX-Request")
def agent_memory(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    return _browser(request, memories.store_of(agent))


@require_GET
@vary_on_headers("HX-Request")
def playbook(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return _browser(request, memories.playbook_of(request.agency))


# ------------------------------------------------------------------ one note


def _note_form(request: AgencyRequest, store: MemoryStore, memory: Memory | None) -> HttpResponse:
    form = MemoryForm(request.POST or None, instance=memory)
    if request.method == "POST" and form.is_valid():
        fields = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        try:
            saved = memories.save_note(
                store, memory, fields, request.user, form.cleaned_data["reason"]
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Saved {saved.key}.")
            return redirect(
                "memory-detail", agency_slug=request.agency.slug, memory_id=saved.public_id
            )
    if memory is not None:
        memory.refresh_from_db()
    context = {
        "form": form,
        "store": store,
        "memory": memory,
        "store_url": _store_url(request, store),
    }
    return render(request, "agents/memory_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def agent_memory_create(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    return _note_form(request, memories.store_of(agent), None)


@require_http_methods(["GET", "POST"])
def playbook_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return _note_form(request, memories.playbook_of(request.agency), None)


@require_http_methods(["GET", "POST"])
def memory_edit(request: AgencyRequest, agency_slug: str, memory_id: UUID) -> HttpResponse:
    memory = get_for_agency_or_404(Memory, request.agency, public_id=memory_id)
    return _note_form(request, memory.store, memory)


@require_GET
def memory_detail(request: AgencyRequest, agency_slug: str, memory_id: UUID) -> HttpResponse:
    memory = get_for_agency_or_404(Memory, request.agency, public_id=memory_id)
    versions = list(
        MemoryVersion.objects.for_agency(request.agency)
        .filter(memory=memory)
        .select_related("user", "run", "dream")
        .order_by("number")
    )
    history = []
    before: dict[str, Any] | None = None
    for version in versions:
        history.append((version, memories.diff_lines(before, version.state)))
        before = version.state
    history.reverse()
    context = {
        "memory": memory,
        "store": memory.store,
        "store_url": _store_url(request, memory.store),
        "body": render_report(memory.body),
        "history": history,
        "source_runs": memory.source_runs.order_by("-queued_at")[:20],
        "superseded_by": memory.superseded_by,
    }
    return render(request, "agents/memory_detail.html", context)


@require_POST
def memory_expire(request: AgencyRequest, agency_slug: str, memory_id: UUID) -> HttpResponse:
    memory = get_for_agency_or_404(Memory, request.agency, public_id=memory_id)
    try:
        memories.expire_note(memory, request.user, request.POST.get("reason", "").strip())
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{memory.key} expired. It stays in history and can be restored.")
    return redirect("memory-detail", agency_slug=request.agency.slug, memory_id=memory.public_id)


@require_POST
def memory_restore(request: AgencyRequest, agency_slug: str, memory_id: UUID) -> HttpResponse:
    memory = get_for_agency_or_404(Memory, request.agency, public_id=memory_id)
    number = positive_int(request.POST.get("version"))
    try:
        if number is None:
            raise ServiceError("Pick a version to restore.")
        memories.restore_version(memory, number, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Restored version {number} as a new version.")
    return redirect("memory-detail", agency_slug=request.agency.slug, memory_id=memory.public_id)


@require_POST
def store_rollback(request: AgencyRequest, agency_slug: str, store_id: UUID) -> HttpResponse:
    store = get_for_agency_or_404(MemoryStore, request.agency, public_id=store_id)
    version = positive_int(request.POST.get("version"))
    try:
        if version is None:
            raise ServiceError("Pick a point in the store's history.")
        changed = memories.rollback_store(store, version, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Rolled the store back: {changed} note{'s' if changed != 1 else ''} changed, "
            "each as a new version you can undo.",
        )
    return redirect(_store_url(request, store))


# ------------------------------------------------------------------ review


def _proposal_rows(proposals: Any) -> list[dict[str, Any]]:
    rows = []
    for proposal in proposals:
        before, after = memories.proposed_state(proposal)
        rows.append({"p": proposal, "diff": memories.diff_lines(before, after), "form": None})
    return rows


def _review_context(request: AgencyRequest, **extra: Any) -> dict[str, Any]:
    pending = (
        MemoryProposal.objects.for_agency(request.agency)
        .filter(status=MemoryProposal.Status.PENDING)
        .select_related("store__agent__client", "dream", "run", "memory")
        .prefetch_related("evidence")
        .order_by("store", "created_at", "pk")
    )
    decided = (
        MemoryProposal.objects.for_agency(request.agency)
        .exclude(status__in=(MemoryProposal.Status.PENDING, MemoryProposal.Status.HELD))
        .select_related("store__agent", "decided_by")
        .order_by("-decided_at", "-created_at")[:20]
    )
    return {"rows": _proposal_rows(pending), "decided": decided, **extra}


@require_GET
def review_queue(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return render(request, "agents/review_queue.html", _review_context(request))


@require_POST
def proposal_decide(request: AgencyRequest, agency_slug: str, proposal_id: UUID) -> HttpResponse:
    """Approve (as proposed, or with a reviewer's edit) or reject one queued change."""
    proposal = get_for_agency_or_404(MemoryProposal, request.agency, public_id=proposal_id)
    action = request.POST.get("action", "")
    try:
        if action == "reject":
            memories.reject(proposal, request.user)
            messages.success(request, f"Rejected: {proposal}.")
        elif action == "edit":
            form = ProposalEditForm(request.POST)
            if not form.is_valid():
                row = {"p": proposal, "diff": [], "form": form}
                context = _review_context(request, editing=proposal.pk)
                context["rows"] = [row if r["p"].pk == proposal.pk else r for r in context["rows"]]
                return render(request, "agents/review_queue.html", context, status=400)
            memories.approve(proposal, request.user, form.changes())
            messages.success(request, f"Edited and approved: {proposal}.")
        elif action == "approve":
            memories.approve(proposal, request.user)
            messages.success(request, f"Approved: {proposal}.")
        else:
            raise ServiceError("Approve, edit or reject.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("memory-review", agency_slug=request.agency.slug)


@require_GET
def proposal_edit(request: AgencyRequest, agency_slug: str, proposal_id: UUID) -> HttpResponse:
    """The review queue with one change open for editing."""
    proposal = get_for_agency_or_404(MemoryProposal, request.agency, public_id=proposal_id)
    change = proposal.change
    before = proposal.memory
    initial = {
        "title": change.get("title") or (before.title if before else ""),
        "body": change.get("body") or (before.body if before else ""),
        "tags": change.get("tags") or (before.tags if before else []),
        "weight": change.get("weight"),
    }
    context = _review_context(request, editing=proposal.pk)
    for row in context["rows"]:
        if row["p"].pk == proposal.pk:
            row["form"] = ProposalEditForm(initial=initial)
    return render(request, "agents/review_queue.html", context)


@require_POST
def review_bulk(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    action = request.POST.get("action", "")
    ids = request.POST.getlist("proposal")
    chosen = MemoryProposal.objects.for_agency(request.agency).filter(
        public_id__in=memories.parse_uuids(ids)
    )
    if action not in ("approve", "reject") or not ids:
        messages.error(request, "Tick the changes to approve or reject first.")
        return redirect("memory-review", agency_slug=request.agency.slug)
    done, problems = memories.decide_many(chosen.order_by("created_at", "pk"), request.user, action)
    verb = "Approved" if action == "approve" else "Rejected"
    messages.success(request, f"{verb} {done} change{'s' if done != 1 else ''}.")
    for problem in problems:
        messages.error(request, problem)
    return redirect("memory-review", agency_slug=request.agency.slug)


# ------------------------------------------------------------------ dreams


def _dream_rows(request: AgencyRequest, agent: Agent) -> QuerySet[Dream]:
    """An agent's dreams, newest first, without the large prompt, answer and trace."""
    return (
        Dream.objects.for_agency(request.agency)
        .filter(agent=agent)
        .defer("prompt", "answer", "trace")
        .order_by("-queued_at")
    )


@require_GET
def dream_list(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    items = _dream_rows(request, agent).annotate(runs_read=Count("runs"))
    context = {
        "agent": agent,
        "page": Paginator(items, 25).get_page(request.GET.get("page")),
        "dream_schedule": dreams.describe_dream_schedule(agent),
    }
    return render(request, "agents/dream_list.html", context)


@require_GET
@vary_on_headers("HX-Request")
def dream_detail(request: AgencyRequest, agency_slug: str, dream_id: UUID) -> HttpResponse:
    item = get_for_agency_or_404(Dream, request.agency, public_id=dream_id)
    proposals = item.proposals.select_related("memory").prefetch_related("evidence").order_by("pk")
    context = {
        "dream": item,
        "agent": item.agent,
        "rows": _proposal_rows(proposals),
        "runs_read": item.runs.order_by("-finished_at"),
    }
    return render_region(request, "agents/dream_detail.html", "dream-live", context)


@require_POST
def dream_now(request: AgencyRequest, agency_slug: str, agent_id: UUID) -> HttpResponse:
    agent = get_for_agency_or_404(Agent, request.agency, public_id=agent_id)
    try:
        item = dreams.request_dream(agent, request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("agent-memory", agency_slug=request.agency.slug, agent_id=agent.public_id)
    return redirect("dream-detail", agency_slug=request.agency.slug, dream_id=item.public_id)
