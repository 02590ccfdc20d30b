"""The client portal: read-only pages for a client-viewer login."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clients.tenancy import AuthedRequest, viewer_for
from clients.views.clients import logo_response


@login_required
@require_GET
def portal_home(request: AuthedRequest) -> HttpResponse:
    viewer = viewer_for(request.user)
    if viewer is None:
        return render(
            request,
            "403.html",
            {
                "exception": "This login has no client portal. "
                "Agency staff use the agency dashboard."
            },
            status=403,
        )
    return render(request, "clients/portal_home.html", {"viewer": viewer, "client": viewer.client})


@login_required
@require_GET
def portal_logo(request: AuthedRequest) -> FileResponse | HttpResponse:
    viewer = viewer_for(request.user)
    if viewer is None:
        return HttpResponse(status=404)
    return logo_response(viewer.client)
