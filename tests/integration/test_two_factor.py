"""Every user can turn on TOTP two-factor; login then asks for the code."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    counter = next(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counter))


def test_a_member_activates_totp_and_login_then_needs_the_code(client, bob):
    client.force_login(bob)
    # allauth asks to re-enter the password before security changes.
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]

    client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert bob.authenticator_set.filter(type="totp").exists()
    client.logout()

    step_one = client.post("/accounts/login/", {"login": "bob@a.test", "password": PASSWORD})
    assert step_one["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/a/agency-a/").status_code == 302  # not logged in yet
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert b"Incorrect code" in wrong.content
    client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert client.get("/a/agency-a/").status_code == 200
