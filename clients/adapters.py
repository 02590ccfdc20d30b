"""allauth hooks: invite-aware signup and where people land after login."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

# Session key holding the token of the invitation being accepted.
PENDING_INVITATION = "pending_invitation"


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        if request.session.get(PENDING_INVITATION):
            return True
        return bool(settings.ACCOUNT_ALLOW_REGISTRATION)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # "home" sends each kind of login where it belongs (agency, portal, or
        # a pending invitation), so every path through login ends there.
        token = request.session.get(PENDING_INVITATION)
        if token:
            return reverse("invitation-accept", args=[token])
        return reverse("home")

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return reverse("home")
