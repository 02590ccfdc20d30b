"""Render a page, or only one region of it for htmx requests."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


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
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.history_restore_request:
        template = f"{template}#{region}"
    return render(request, template, context, status=status)
