"""Landing, signup, new agencies and invitation acceptance (outside /a/<slug>/)."""

from __future__ import annotations

from typing import Any

from allauth.account.views import SignupView
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from clients import services
from clients.adapters import PENDING_INVITATION
from clients.forms import NewAgencyForm
from clients.models import Invitation, Membership
from clients.tenancy import AuthedRequest, viewer_for


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the app answers and the database does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


def home(request: HttpRequest) -> HttpResponse:
    """Send each login where it belongs: its agency, the client portal, or agency setup."""
    if not request.user.is_authenticated:
        return redirect("account_login")
    user = request.user
    if viewer_for(user) is not None:
        return redirect("portal-home")
    memberships = Membership.objects.filter(user=user).select_related("agency")
    last = next((m for m in memberships if m.agency_id == user.last_agency_id), None)
    chosen = last or next(iter(memberships.order_by("agency__name")), None)
    if chosen is None:
        return redirect("agency-create")
    return redirect("dashboard", agency_slug=chosen.agency.slug)


class AgencySignupView(SignupView):  # type: ignore[misc]
    """allauth's signup, carrying a pending invitation and writing all or nothing."""

    def _pending_invitation(self) -> Invitation | None:
        token = self.request.session.get(PENDING_INVITATION)
        if not token:
            return None
        invitation = Invitation.objects.select_related("agency").filter(token=token).first()
        return invitation if invitation is not None and invitation.is_open else None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs()
        kwargs["invitation"] = self._pending_invitation()
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["invitation"] = self._pending_invitation()
        return context

    def form_valid(self, form: forms.Form) -> HttpResponse:
        try:
            with transaction.atomic():
                response: HttpResponse = super().form_valid(form)
        except forms.ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)  # type: ignore[no-any-return]
        self.request.session.pop(PENDING_INVITATION, None)
        return response


signup = AgencySignupView.as_view()


@login_required
@require_http_methods(["GET", "POST"])
def agency_create(request: AuthedRequest) -> HttpResponse:
    if viewer_for(request.user) is not None:
        return render(
            request,
            "403.html",
            {"exception": "Client viewer logins cannot create agencies."},
            status=403,
        )
    form = NewAgencyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            agency = services.create_agency(
                request.user, form.cleaned_data["name"], form.cleaned_data["slug"]
            )
        except forms.ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{agency.name} is ready. Add your first client.")
            return redirect("dashboard", agency_slug=agency.slug)
    return render(request, "clients/agency_create.html", {"form": form})


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Show an invitation; a logged-in invitee accepts it, a new one signs up."""
    invitation = (
        Invitation.objects.select_related("agency", "client", "invited_by")
        .filter(token=token)
        .first()
    )
    if invitation is None:
        return render(
            request,
            "clients/invitation.html",
            {"error": "This invitation link is not valid. Check that you copied all of it."},
            status=404,
        )
    try:
        services.check_invitation_open(invitation)
    except services.ServiceError as exc:
        request.session.pop(PENDING_INVITATION, None)
        return render(
            request,
            "clients/invitation.html",
            {"invitation": invitation, "error": exc.message},
            status=410,
        )

    if not request.user.is_authenticated:
        # Opening the emailed link proves the address: allauth then skips
        # re-verifying it when the invitee signs up with it.
        request.session[PENDING_INVITATION] = token
        request.session["account_verified_email"] = invitation.email
        return render(request, "clients/invitation.html", {"invitation": invitation})

    if request.method == "POST":
        try:
            services.accept_invitation(token, request.user)
        except services.ServiceError as exc:
            return render(
                request,
                "clients/invitation.html",
                {"invitation": invitation, "error": exc.message},
                status=400,
            )
        request.session.pop(PENDING_INVITATION, None)
        messages.success(request, f"Welcome to {invitation.agency.name}.")
        return HttpResponseRedirect(reverse("home"))
    return render(request, "clients/invitation.html", {"invitation": invitation})
