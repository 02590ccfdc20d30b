"""Tenancy rails: who may see which agency, and how views reach tenant rows.

Every URL under /a/<agency_slug>/ passes through AgencyMiddleware, which sets
`request.agency` and `request.membership` or answers 404, so that a stranger
cannot tell an agency exists. Views then fetch rows only through
`get_for_agency_or_404` or `Model.objects.for_agency(...)`; a test in
tests/architecture fails on any other lookup of a tenant model in a view.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, Concatenate

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.urls import reverse

from clients.models import Agency, ClientViewer, Membership, Role

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from clients.models import User


class AuthedRequest(HttpRequest):
    """A request from a logged-in user (for mypy)."""

    user: User
    htmx: HtmxDetails


class AgencyRequest(AuthedRequest):
    """A request under /a/<agency_slug>/ by a member of that agency."""

    agency: Agency
    membership: Membership


def get_for_agency_or_404[M: models.Model](model: type[M], agency: Agency, **lookup: Any) -> M:
    """Return the one row of `model` owned by `agency` matching `lookup`, or 404."""
    manager = model._default_manager
    try:
        return manager.get(agency=agency, **lookup)
    except (ObjectDoesNotExist, ValidationError, ValueError, TypeError):
        # A malformed value in a lookup (a UUIDField raises ValidationError, an
        # integer field ValueError) is as unknown as a missing row.
        raise Http404(f"No {model._meta.verbose_name} here.") from None


class AgencyMiddleware:
    """Resolve the agency named in the URL and the user's membership of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        slug = view_kwargs.get("agency_slug")
        if slug is None:
            return None
        if not request.user.is_authenticated:
            if getattr(request, "htmx", False):
                # A fragment request must not swap a login page into the page:
                # answer 403 and tell htmx to load the login page instead.
                response = HttpResponseForbidden("Log in again to continue.")
                response["HX-Redirect"] = f"{reverse('account_login')}?next={request.path}"
                return response
            return redirect_to_login(request.get_full_path(), reverse("account_login"))
        membership = (
            Membership.objects.select_related("agency")
            .filter(agency__slug=slug, user=request.user)
            .first()
        )
        if membership is None:
            raise Http404("No such agency.")
        request.agency = membership.agency  # type: ignore[attr-defined]
        request.membership = membership  # type: ignore[attr-defined]
        user = request.user
        if user.last_agency_id != membership.agency_id:
            user.last_agency = membership.agency
            user.save(update_fields=["last_agency"])
        return None


type AgencyView = Callable[Concatenate[AgencyRequest, ...], HttpResponse]


def role_required(needed: Role) -> Callable[[AgencyView], AgencyView]:
    """Allow the view only to members holding `needed` or a higher role; else 403."""

    def decorator(view: AgencyView) -> AgencyView:
        @wraps(view)
        def wrapper(request: AgencyRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.membership.has_role(needed):
                raise PermissionDenied(
                    f"This needs the {needed.label} role in {request.agency.name}. "
                    f"You are a {request.membership.get_role_display()}; "
                    f"ask an owner if you need more access."
                )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def viewer_for(user: Any) -> ClientViewer | None:
    """Return the client-viewer binding of `user`, or None for staff logins."""
    if not user.is_authenticated:
        return None
    return ClientViewer.objects.select_related("client", "agency").filter(user_id=user.pk).first()


# Paths a client viewer may post to: their own account (logout, password, 2FA).
VIEWER_WRITABLE_PREFIXES = ("/accounts/",)


class ClientViewerReadOnlyMiddleware:
    """Refuse every write by a client-viewer login outside its own account pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and request.user.is_authenticated
            and not request.path.startswith(VIEWER_WRITABLE_PREFIXES)
            and ClientViewer.objects.filter(user_id=request.user.pk).exists()
        ):
            return render(
                request,
                "403.html",
                {
                    "exception": "Client viewer logins are read-only: "
                    "nothing was changed. Ask your agency to make the change."
                },
                status=403,
            )
        return self.get_response(request)
