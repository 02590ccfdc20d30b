"""render_region returns the page, or only its region for htmx."""

from __future__ import annotations

from django.test import RequestFactory
from django_htmx.middleware import HtmxDetails

from clients.views.rendering import render_region

TEMPLATE = "components.html"


def make_request(**headers):
    request = RequestFactory().get("/", headers=headers)
    request.htmx = HtmxDetails(request)
    return request


def test_a_plain_request_gets_the_whole_template():
    response = render_region(make_request(), TEMPLATE, "empty-state", {"empty_title": "Nothing"})

    # components.html defines partials without rendering them inline.
    assert b"Nothing" not in response.content


def test_an_htmx_request_gets_only_the_region():
    response = render_region(
        make_request(**{"HX-Request": "true"}), TEMPLATE, "empty-state", {"empty_title": "Nothing"}
    )

    assert response.content.strip().startswith(b'<div class="empty">')
    assert b"Nothing" in response.content


def test_a_history_restore_gets_the_whole_template():
    request = make_request(**{"HX-Request": "true", "HX-History-Restore-Request": "true"})

    response = render_region(request, TEMPLATE, "empty-state", {"empty_title": "Nothing"})

    assert b"Nothing" not in response.content
