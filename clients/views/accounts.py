"""Landing, signup, new agencies and invitation acceptance (outside /a/<slug>/)."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.views import SignupView
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from clients import services
from clients.adapters import (
    PENDING_INVITATION,
    VERIFIED_EMAIL,
    forget_pending_invitation,
    open_pending_invitation,
)
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
        return open_pending_invitation(self.request)

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs()
        kwargs["invitation"] = self._pending_invitation()
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["invitation"] = self._pending_invitation()
        return context

    def form_valid(self, form: forms.Form) -> HttpResponse:
        invitation = getattr(form, "invitation", None)
        email = form.cleaned_data.get("email", "")
        # The emailed link proved the invited address, and only that one: allauth
        # then marks it verified. Anything else goes through email verification.
        if invitation is not None and email.lower() == invitation.email.lower():
            get_adapter(self.request).stash_verified_email(self.request, invitation.email)
        else:
            self.request.session.pop(VERIFIED_EMAIL, None)
        try:
            with transaction.atomic():
                response: HttpResponse = super().form_valid(form)
        except forms.ValidationError as exc:
            self.request.session.pop(VERIFIED_EMAIL, None)
            form.add_error(None, exc)
            return self.form_invalid(form)  # type: ignore[no-any-return]
        forget_pending_invitation(self.request)
        return response


signup = AgencySignupView.as_view()


@login_required
@require_http_methods(["GET", "POST"])
def agency_create(request: AuthedRequest) -> HttpResponse:
    refusal = None
    if viewer_for(request.user) is not None:
        refusal = "Client viewer logins cannot create agencies."
    elif not settings.ACCOUNT_ALLOW_REGISTRATION and not request.user.is_staff:
        refusal = (
            "This installation is invite-only: ask an operator to create an agency, "
            "or an agency owner to invite you."
        )
    if refusal:
        return render(request, "403.html", {"exception": refusal}, status=403)
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


@require_GET
def invitation_open(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: keep the token in the session, then drop it from the URL.

    From here on the token never appears in a URL, so it cannot reach access
    logs, error logs or Referer headers of later pages.
    """
    if services.find_invitation(token) is None:
        forget_pending_invitation(request)
        return render(
            request,
            "clients/invitation.html",
            {"error": "This invitation link is not valid. Check that you copied all of it."},
            status=404,
        )
    request.session[PENDING_INVITATION] = token
    return redirect("invitation-accept")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest) -> HttpResponse:
    """Show the pending invitation; a logged-in invitee accepts it, a new one signs up."""
    token = request.session.get(PENDING_INVITATION, "")
    invitation = services.find_invitation(token)
    if invitation is None:
        return render(
            request,
            "clients/invitation.html",
            {"error": "There is no invitation to accept. Open the link from your email again."},
            status=404,
        )
    try:
        services.check_invitation_open(invitation)
    except services.ServiceError as exc:
        forget_pending_invitation(request)
        return render(
            request,
            "clients/invitation.html",
            {"invitation": invitation, "error": exc.message},
            status=410,
        )

    if request.method == "POST" and request.user.is_authenticated:
        try:
            services.accept_invitation(token, request.user)
        except services.ServiceError as exc:
            return render(
                request,
                "clients/invitation.html",
                {"invitation": invitation, "error": exc.message},
                status=400,
            )
        forget_pending_invitation(request)
        messages.success(request, f"Welcome to {invitation.agency.name}.")
        return HttpResponseRedirect(reverse("home"))
    return render(request, "clients/invitation.html", {"invitation": invitation})
