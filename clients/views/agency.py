"""The agency's own pages: overview, settings, members and invitations."""

from __future__ import annotations

from uuid import UUID

from django import forms
from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from agents import quality
from clients import services
from clients.forms import AgencyForm, InviteForm, RoleForm
from clients.models import Client, Invitation, Membership, Role
from clients.tenancy import AgencyRequest, get_for_agency_or_404, role_required
from clients.views.rendering import render_region


@require_GET
def dashboard(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    agency = request.agency
    counts = Client.objects.for_agency(agency).aggregate(
        active=Count("pk", filter=Q(archived_at__isnull=True)),
        archived=Count("pk", filter=Q(archived_at__isnull=False)),
    )
    context = {
        "client_counts": counts,
        "member_count": Membership.objects.for_agency(agency).count(),
        "open_invitations": Invitation.objects.for_agency(agency)
        .filter(status=Invitation.Status.PENDING, expires_at__gt=timezone.now())
        .count(),
        "recent_clients": Client.objects.for_agency(agency)
        .filter(archived_at__isnull=True)
        .order_by("-created_at")[:5],
        "fleet": quality.fleet_overview(agency.pk),
    }
    return render(request, "clients/dashboard.html", context)


@role_required(Role.OWNER)
@require_http_methods(["GET", "POST"])
def agency_settings(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    agency = request.agency
    form = AgencyForm(request.POST or None, instance=agency)
    if request.method == "POST" and form.is_valid():
        try:
            agency = services.update_agency(
                agency,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                billing_email=form.cleaned_data["billing_email"],
            )
        except forms.ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Agency settings saved.")
            return redirect("agency-settings", agency_slug=agency.slug)
    if form.errors:
        # The instance was changed by validation; keep the URL on the saved slug.
        agency.refresh_from_db()
    return render(request, "clients/agency_settings.html", {"form": form})


def _members_context(
    request: AgencyRequest, invite_form: InviteForm | None = None
) -> dict[str, object]:
    agency = request.agency
    can_invite_owner = request.membership.has_role(Role.OWNER)
    return {
        "memberships": Membership.objects.for_agency(agency)
        .select_related("user")
        .order_by("user__email"),
        "invitations": Invitation.objects.for_agency(agency)
        .filter(status=Invitation.Status.PENDING)
        .select_related("client", "invited_by")
        .order_by("-created_at"),
        "invite_form": invite_form or InviteForm(can_invite_owner=can_invite_owner),
        "role_choices": Role.choices,
        "can_manage_members": request.membership.has_role(Role.OWNER),
        "can_invite": request.membership.has_role(Role.ADMIN),
    }


@require_GET
@vary_on_headers("HX-Request")
def members(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    return render_region(request, "clients/members.html", "member-list", _members_context(request))


@role_required(Role.ADMIN)
@require_POST
def member_invite(request: AgencyRequest, agency_slug: str) -> HttpResponse:
    form = InviteForm(request.POST, can_invite_owner=request.membership.has_role(Role.OWNER))
    if form.is_valid():
        try:
            invitation = services.invite(
                request.agency,
                request.membership,
                form.cleaned_data["email"],
                form.cleaned_data["role"],
            )
        except services.ServiceError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            if request.htmx:
                return render_region(
                    request, "clients/members.html", "member-list", _members_context(request)
                )
            return redirect("members", agency_slug=request.agency.slug)
    # Invalid input comes back with its errors and what was typed, status 200 for htmx.
    return render_region(
        request, "clients/members.html", "member-list", _members_context(request, form)
    )


def _back_to_invitation_list(request: AgencyRequest, invitation: Invitation) -> HttpResponse:
    """Redirect to the page that lists `invitation`: its client's page, or the team page."""
    if invitation.client is not None:
        return redirect(
            "client-detail", agency_slug=request.agency.slug, client_id=invitation.client.public_id
        )
    return redirect("members", agency_slug=request.agency.slug)


@role_required(Role.ADMIN)
@require_POST
def invitation_revoke(
    request: AgencyRequest, agency_slug: str, invitation_id: UUID
) -> HttpResponse:
    invitation = get_for_agency_or_404(Invitation, request.agency, public_id=invitation_id)
    try:
        services.revoke_invitation(invitation, request.membership)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Invitation to {invitation.email} revoked.")
    return _back_to_invitation_list(request, invitation)


@role_required(Role.ADMIN)
@require_POST
def invitation_resend(
    request: AgencyRequest, agency_slug: str, invitation_id: UUID
) -> HttpResponse:
    invitation = get_for_agency_or_404(Invitation, request.agency, public_id=invitation_id)
    try:
        invitation = services.resend_invitation(invitation, request.membership)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Invitation sent again to {invitation.email}; the earlier link no longer works.",
        )
    return _back_to_invitation_list(request, invitation)


@role_required(Role.OWNER)
@require_POST
def member_role(request: AgencyRequest, agency_slug: str, member_id: UUID) -> HttpResponse:
    membership = get_for_agency_or_404(Membership, request.agency, public_id=member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or member.")
    else:
        try:
            services.change_role(membership, Role(form.cleaned_data["role"]), request.membership)
        except services.ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{membership.user.email} is now {membership.get_role_display()}."
            )
    return redirect("members", agency_slug=request.agency.slug)


@role_required(Role.OWNER)
@require_POST
def member_remove(request: AgencyRequest, agency_slug: str, member_id: UUID) -> HttpResponse:
    membership = get_for_agency_or_404(Membership, request.agency, public_id=member_id)
    try:
        services.remove_member(membership, request.membership)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("members", agency_slug=request.agency.slug)
    messages.success(
        request, f"{membership.user.email} no longer has access to {request.agency.name}."
    )
    if membership.user_id == request.user.pk:
        return redirect("home")
    return redirect("members", agency_slug=request.agency.slug)
