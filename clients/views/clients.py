"""Client pages: list, detail, create, edit, archive and restore, logos, viewers."""

from __future__ import annotations

import mimetypes
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agents import costs, quality
from agents.models import Agent, Dream, Run
from clients import services
from clients.forms import ClientForm, ViewerInviteForm, timezone_choices
from clients.models import Client, ClientViewer, Invitation, Role
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required
from clients.views.rendering import render_region

PAGE_SIZE = 25


@require_GET
@vary_on_headers("HX-Request")
def client_list(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    show = request.GET.get("show", "active")
    query = request.GET.get("q", "").strip()
    clients = Client.objects.for_agency(request.agency)
    clients = clients.filter(archived_at__isnull=(show != "archived"))
    if query:
        clients = clients.filter(name__icontains=query)
    page = Paginator(clients.order_by("name", "pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "show": show if show == "archived" else "active",
        "q": query,
        "can_edit": request.membership.has_role(Role.ADMIN),
    }
    return render_region(request, "clients/client_list.html", "client-table", context)


def _client_form_context(form: ClientForm, client: Client | None = None) -> dict[str, object]:
    return {"form": form, "client": client, "timezones": timezone_choices()}


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def client_create(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    form = ClientForm(
        request.POST or None, request.FILES or None, instance=Client(agency=request.agency)
    )
    if request.method == "POST" and form.is_valid():
        try:
            client = services.create_client(request.agency, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{client.name} added.")
            return redirect(
                "client-detail", agency_slug=request.agency.slug, client_id=client.public_id
            )
    return render(request, "clients/client_form.html", _client_form_context(form))


@require_GET
def client_detail(request: AgencyRequest, agency_slug: str, client_id: UUID) -> HttpResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    context = {
        "client": client,
        "viewers": ClientViewer.objects.for_agency(request.agency)
        .filter(client=client)
        .select_related("user"),
        "viewer_invitations": Invitation.objects.for_agency(request.agency).filter(
            client=client, status=Invitation.Status.PENDING
        ),
        "viewer_form": ViewerInviteForm(),
        "can_edit": request.membership.has_role(Role.ADMIN),
        "agents": Agent.objects.for_agency(request.agency)
        .filter(client=client, archived_at__isnull=True)
        .select_related("model"),
        "monthly_costs": costs.monthly_costs(
            Run.objects.for_agency(request.agency).filter(agent__client=client),
            Dream.objects.for_agency(request.agency).filter(agent__client=client),
        ),
        "quality": quality.client_quality(
            Agent.objects.for_agency(request.agency).filter(
                client=client, archived_at__isnull=True
            ),
            client.timezone,
        ),
    }
    return render(request, "clients/client_detail.html", context)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def client_edit(request: AgencyRequest, agency_slug: str, client_id: UUID) -> HttpResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    logo_url = (
        reverse("client-logo", args=[request.agency.slug, client.public_id]) if client.logo else ""
    )
    form = ClientForm(
        request.POST or None, request.FILES or None, instance=client, logo_url=logo_url
    )
    if request.method == "POST" and form.is_valid():
        # The form has already put each value on the instance in model form
        # (a cleared logo is "" there, False in cleaned_data).
        changed = {name: getattr(form.instance, name) for name in form.changed_data}
        try:
            services.update_client(client, **changed)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{client.name} saved.")
            return redirect(
                "client-detail", agency_slug=request.agency.slug, client_id=client.public_id
            )
    if form.errors:
        # Validation wrote the typed values onto the instance; show the saved name.
        client.refresh_from_db()
    return render(request, "clients/client_form.html", _client_form_context(form, client))


@role_required(Role.ADMIN)
@require_POST
def client_archive(request: AgencyRequest, agency_slug: str, client_id: UUID) -> HttpResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    services.archive_client(client)
    messages.success(request, f"{client.name} archived. Its history is kept; restore it any time.")
    return redirect("client-detail", agency_slug=request.agency.slug, client_id=client.public_id)


@role_required(Role.ADMIN)
@require_POST
def client_restore(request: AgencyRequest, agency_slug: str, client_id: UUID) -> HttpResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    try:
        services.restore_client(client)
    except ValidationError:
        messages.error(
            request,
            f"An active client is already called {client.name}. Rename one of them, then restore.",
        )
    else:
        messages.success(request, f"{client.name} restored.")
    return redirect("client-detail", agency_slug=request.agency.slug, client_id=client.public_id)


def logo_response(client: Client) -> FileResponse:
    """Stream a client's logo; tenancy was checked by the caller."""
    if not client.logo:
        raise Http404("No logo.")
    content_type = mimetypes.guess_type(client.logo.name or "")[0] or "application/octet-stream"
    if not content_type.startswith("image/") or content_type == "image/svg+xml":
        raise Http404("No logo.")
    response = FileResponse(client.logo.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_GET
def client_logo(request: AgencyRequest, agency_slug: str, client_id: UUID) -> FileResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    return logo_response(client)


@role_required(Role.ADMIN)
@require_POST
def viewer_invite(request: AgencyRequest, agency_slug: str, client_id: UUID) -> HttpResponse:
    client = get_for_agency_or_404(Client, request.agency, public_id=client_id)
    form = ViewerInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid email address for the client viewer.")
    else:
        try:
            invitation = services.invite(
                request.agency, request.membership, form.cleaned_data["email"], "viewer", client
            )
        except services.ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Viewer invitation sent to {invitation.email}.")
    return redirect("client-detail", agency_slug=request.agency.slug, client_id=client.public_id)


@role_required(Role.ADMIN)
@require_POST
def viewer_remove(request: AgencyRequest, agency_slug: str, viewer_id: UUID) -> HttpResponse:
    viewer = get_for_agency_or_404(ClientViewer, request.agency, public_id=viewer_id)
    client = viewer.client
    services.remove_viewer(viewer)
    messages.success(request, f"{viewer.user.email} can no longer view {client.name}.")
    return redirect("client-detail", agency_slug=request.agency.slug, client_id=client.public_id)
