"""Template context for the layout: the agency in the navigation and the switcher."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from clients.models import Membership


def tenancy(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def memberships() -> list[Membership]:
        # Evaluated only when the layout draws the switcher: one query.
        return list(
            Membership.objects.filter(user=user).select_related("agency").order_by("agency__name")
        )

    mine = SimpleLazyObject(memberships)

    def nav_membership() -> Membership | None:
        # Under /a/<slug>/ the middleware has resolved it; elsewhere (account
        # pages) the navigation keeps showing the agency the user last used.
        current: Membership | None = getattr(request, "membership", None)
        if current is not None:
            return current
        last = next((m for m in mine if m.agency_id == user.last_agency_id), None)
        return last or next(iter(mine), None)

    def viewer_client() -> Any:
        from clients.tenancy import viewer_for

        viewer = viewer_for(user)
        return viewer.client if viewer is not None else None

    return {
        "viewer_client": SimpleLazyObject(viewer_client),
        "my_memberships": mine,
        "nav_membership": SimpleLazyObject(nav_membership),
    }
