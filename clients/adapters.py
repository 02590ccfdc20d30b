"""allauth hooks: invite-aware signup and where people land after login."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from allauth import app_settings as allauth_settings
from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

if TYPE_CHECKING:
    from clients.models import Invitation

# Session key holding the token of the invitation being accepted.
PENDING_INVITATION = "pending_invitation"
# allauth's session key for an address proven outside allauth (see stash_verified_email).
VERIFIED_EMAIL = "account_verified_email"


def rate_limit_address(ip: str) -> str:
    """Return the address a login limit counts against: an IPv6 client by its /64."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        # One subscriber holds a whole /64; counting each address in it separately
        # would give a guesser billions of fresh counters (allauth does the same).
        prefix = allauth_settings.RATE_LIMIT_IPV6_PREFIX
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return str(address)


def open_pending_invitation(request: HttpRequest) -> Invitation | None:
    """Return the invitation held in the session if it can still be accepted."""
    from clients import services

    invitation = services.find_invitation(request.session.get(PENDING_INVITATION, ""))
    if invitation is None or not invitation.is_open:
        return None
    return invitation


def forget_pending_invitation(request: HttpRequest) -> None:
    request.session.pop(PENDING_INVITATION, None)
    request.session.pop(VERIFIED_EMAIL, None)


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # A closed instance still lets an invitee in, but only on an invitation
        # that can still be accepted.
        if settings.ACCOUNT_ALLOW_REGISTRATION:
            return True
        return open_pending_invitation(request) is not None

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # "home" sends each kind of login where it belongs (agency, portal); a
        # pending invitation goes back to its acceptance page first.
        if request.session.get(PENDING_INVITATION):
            return reverse("invitation-accept")
        return reverse("home")

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return reverse("home")

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # The key allauth counts failed logins by (settings.ACCOUNT_RATE_LIMITS,
        # "login_failed"). Per account alone, anyone anywhere could lock alice out;
        # per address alone, one account's failures lock out everyone behind it.
        # Per account and address together, only the guesser is held back.
        account: str = super()._get_login_attempts_cache_key(request, **credentials)
        return f"{account}:{rate_limit_address(self.get_client_ip(request))}"
