"""Render a page, or only one region of it for htmx requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def wants_region(request: HttpRequest) -> bool:
    """True when htmx asks for a fragment (a history restore wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and not htmx.history_restore_request)


def render_region(
    request: HttpRequest,
    template: str,
    region: str,
    context: dict[str, Any],
    status: int = 200,
) -> HttpResponse:
    """Render `template`, or its partial `region` when htmx asks for a fragment.

    A history-restore request wants the whole page back, so it gets it. The
    caller's view must be marked vary_on_headers("HX-Request").
    """
    if wants_region(request):
        template = f"{template}#{region}"
    return render(request, template, context, status=status)
