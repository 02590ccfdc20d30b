"""The journeys a new agency takes, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from agents import alerts
from agents.models import AlertChannel, AlertRule, Run
from clients.models import Agency, Invitation
from tests.factories import (
    PASSWORD,
    ClientFactory,
    ClientViewerFactory,
    UserFactory,
    make_agent,
    make_run,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_up_verify_email_create_agency_and_add_a_client(live_server, page, shoot):
    page.goto(live_server.url + "/accounts/signup/")
    shoot("signup")
    page.get_by_label("Agency name").fill("Moonlight Media")
    page.get_by_label("Email").fill("mia@moonlight.test")
    page.get_by_label("Password", exact=True).fill("a-long-unusual-passphrase")
    page.get_by_label("Password (again)").fill("a-long-unusual-passphrase")
    page.get_by_role("button", name="Create agency").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

    link = re.search(r"https?://\S+/accounts/confirm-email/\S+", mail.outbox[-1].body).group(0)
    page.goto(
        live_server.url + "/accounts/confirm-email/" + link.split("/accounts/confirm-email/")[1]
    )
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Moonlight Media")).to_be_visible()
    shoot("dashboard-new-agency")
    page.get_by_role("link", name="Add client").first.click()
    page.get_by_label("Name").fill("Bluebird Dental")
    page.get_by_label("Website").fill("https://bluebird.test")
    page.get_by_label("Timezone").fill("Mars/Olympus")
    page.get_by_role("button", name="Add client").click()
    expect(page.get_by_text("is not an IANA time zone")).to_be_visible()
    shoot("client-form-error")
    page.get_by_label("Timezone").fill("America/New_York")
    page.get_by_role("button", name="Add client").click()

    expect(page.get_by_role("heading", name="Bluebird Dental")).to_be_visible()
    expect(page.get_by_text("Bluebird Dental added.")).to_be_visible()
    shoot("client-detail")
    page.get_by_role("navigation", name="Agency").get_by_role("link", name="Clients").click()
    expect(page.get_by_role("cell", name="America/New_York")).to_be_visible()
    assert Agency.objects.get(slug="moonlight-media").clients.count() == 1


def test_invite_a_member_who_signs_up_and_joins(
    live_server, page, browser, shoot, login_as, alice, agency_a
):
    login_as(alice)
    page.goto(live_server.url + "/a/agency-a/members/")
    page.get_by_label("Email").fill("newbie@x.test")
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Send invitation").click()

    # htmx swapped the region in place and the toast came with the response.
    expect(page.get_by_role("cell", name="newbie@x.test")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Invitation sent to newbie@x.test")
    shoot("members-after-invite")
    link = re.search(r"https?://\S+/invitations/\S+", mail.outbox[-1].body).group(0)
    path = "/invitations/" + link.split("/invitations/")[1]

    invitee = browser.new_context().new_page()
    invitee.goto(live_server.url + path)
    expect(invitee.get_by_role("heading", name="Join Agency A")).to_be_visible()
    invitee.get_by_role("link", name="Create your login").click()
    expect(invitee.get_by_label("Email")).to_have_value("newbie@x.test")
    invitee.get_by_label("Password", exact=True).fill("a-long-unusual-passphrase")
    invitee.get_by_label("Password (again)").fill("a-long-unusual-passphrase")
    invitee.get_by_role("button", name="Create login and join").click()

    expect(invitee.get_by_role("heading", name="Agency A")).to_be_visible()
    expect(invitee.get_by_text("You are admin here.")).to_be_visible()
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED


def test_a_client_viewer_logs_in_and_sees_only_its_client(live_server, page, shoot, agency_a):
    acme = ClientFactory(agency=agency_a, name="Acme Bakery")
    ClientFactory(agency=agency_a, name="Secret Other Client")
    ClientViewerFactory(client=acme, user=UserFactory(email="dana@acme.test"))

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("dana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()

    expect(page.get_by_role("heading", name="Acme Bakery")).to_be_visible()
    assert page.url.endswith("/portal/")
    expect(page.get_by_text("Secret Other Client")).to_have_count(0)
    expect(page.get_by_role("link", name="Clients")).to_have_count(0)
    shoot("portal")
    page.goto(live_server.url + "/a/agency-a/clients/")
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()


def test_client_search_filters_as_you_type(live_server, page, login_as, bob, agency_a):
    for name in ["Acme Bakery", "Kiwi Cycles", "Cedar Law"]:
        ClientFactory(agency=agency_a, name=name)
    login_as(bob)
    page.goto(live_server.url + "/a/agency-a/clients/")

    page.get_by_label("Search clients").fill("kiw")

    expect(page.get_by_role("link", name=re.compile("Kiwi Cycles"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Acme Bakery"))).to_have_count(0)
    assert "q=kiw" in page.url  # the search is in the address, so it can be shared


def test_the_agency_switcher_moves_between_agencies(
    live_server, page, login_as, alice, agency_b, shoot
):
    from clients.models import Membership, Role

    Membership.objects.create(agency=agency_b, user=alice, role=Role.MEMBER)
    login_as(alice)
    page.goto(live_server.url + "/a/agency-a/")

    page.locator("details.switcher summary").click()
    shoot("switcher-open")
    page.get_by_role("link", name=re.compile("Agency B")).click()

    expect(page.get_by_role("heading", name="Agency B")).to_be_visible()
    expect(page.get_by_text("You are member here.")).to_be_visible()


def test_pages_fit_a_phone_screen(live_server, page, login_as, alice, agency_a, shoot):
    ClientFactory(agency=agency_a, name="Acme Bakery")
    page.set_viewport_size({"width": 390, "height": 844})
    login_as(alice)

    for name, path in [
        ("phone-dashboard", "/a/agency-a/"),
        ("phone-clients", "/a/agency-a/clients/"),
    ]:
        page.goto(live_server.url + path)
        shoot(name)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"


def test_the_alerts_page_with_deliveries_fits_a_phone_screen(
    live_server, page, login_as, alice, agency_a, shoot
):
    client = ClientFactory(agency=agency_a, name="Acme Bakery")
    inbox = alerts.create_channel(agency_a, "Ops inbox", AlertChannel.Kind.EMAIL, "ops@a.test")
    rule = AlertRule.objects.create(agency=agency_a, kind=AlertRule.Kind.RUN_ERRORS)
    rule.channels.set([inbox])
    make_run(
        make_agent(client),
        status=Run.Status.FAILED,
        error="The model refused.",
        finished_at=timezone.now(),
    )
    assert alerts.evaluate_alerts() == (1, 0)
    page.set_viewport_size({"width": 390, "height": 844})
    login_as(alice)

    page.goto(live_server.url + "/a/agency-a/alerts/")
    expect(page.locator(".badge", has_text="Ops inbox · opened")).to_be_visible()
    shoot("phone-alerts")
    # The delivery's result is read out by screen readers from a visually hidden label,
    # which must stay inside the table's scroller, not widen the page.
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the alerts page scrolls sideways by {overflow}px"
