"""allauth's account pages and the admin render in our layout without CSP violations.

The `page` fixture fails the test on any console error, which is where Chromium
reports a blocked inline script or style.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/accounts/email/", "Email Addresses"),
        ("/accounts/password/change/", "Change Password"),
        ("/accounts/2fa/", "Two-Factor Authentication"),
    ],
)
def test_account_pages_render_cleanly(live_server, page, login_as, alice, shoot, path, heading):
    login_as(alice)

    page.goto(live_server.url + path)

    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Account").first).to_be_visible()
    shoot("account" + path.replace("/", "-").rstrip("-"))


def test_totp_activation_shows_the_qr_code(live_server, page, alice, shoot):
    # Typed login: allauth asks for the password again before 2FA changes.
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email").fill("alice@a.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("heading", name="Agency A")).to_be_visible()

    page.goto(live_server.url + "/accounts/2fa/totp/activate/")
    if page.get_by_role("heading", name="Confirm Access").is_visible():
        shoot("reauthenticate")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("img").first).to_be_visible()
    expect(page.get_by_label("Authenticator code")).to_be_visible()
    shoot("totp-activate")


def test_password_reset_pages(live_server, page, shoot):
    page.goto(live_server.url + "/accounts/password/reset/")

    page.get_by_label("Email").fill("nobody@x.test")
    page.get_by_role("button", name="Reset My Password").click()

    expect(page.get_by_role("heading", name="Password Reset")).to_be_visible()


def test_the_admin_renders_for_staff(live_server, page, login_as, agency_a, client_a, shoot):
    login_as(UserFactory(email="op@x.test", is_staff=True, is_superuser=True))

    page.goto(live_server.url + "/admin/clients/client/")

    expect(page.get_by_role("link", name="Acme Bakery")).to_be_visible()
    shoot("admin-clients")
