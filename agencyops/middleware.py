"""Project-wide middleware."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse


class HtmxMessagesMiddleware:
    """Deliver Django messages to htmx requests as an HX-Trigger "messages" event.

    A fragment swap does not redraw the page's toast region, so messages added
    while handling an htmx request would otherwise wait for the next full page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or 300 <= response.status_code < 400:
            return response
        if "HX-Redirect" in response or "HX-Refresh" in response:
            return response  # the next full page shows them
        items = [
            {"message": str(m), "level": m.tags or "info"} for m in messages.get_messages(request)
        ]
        if not items:
            return response
        triggers = json.loads(response.get("HX-Trigger", "{}") or "{}")
        triggers["messages"] = {"items": items}
        response["HX-Trigger"] = json.dumps(triggers)
        return response
