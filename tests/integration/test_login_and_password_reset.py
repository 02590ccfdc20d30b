"""Login lands each kind of user in the right place; passwords can be reset."""

from __future__ import annotations

import os
import re
import uuid

import pytest
from django.core import mail

from tests.factories import (
    PASSWORD,
    AgencyFactory,
    ClientViewerFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def login(client, email, password=PASSWORD, **meta):
    return client.post("/accounts/login/", {"login": email, "password": password}, **meta)


def test_an_owner_lands_on_the_agency_dashboard(client, alice):
    response = login(client, "alice@a.test")

    final = client.get(response["Location"], follow=True)
    assert final.redirect_chain[-1][0] == "/a/agency-a/"
    assert b"Agency A" in final.content


def test_a_user_in_two_agencies_lands_on_the_last_one_used(client, alice, agency_b):
    MembershipFactory(agency=agency_b, user=alice)
    client.force_login(alice)
    client.get("/a/agency-b/")
    client.logout()

    response = login(client, "alice@a.test")

    assert client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/a/agency-b/"


def test_a_user_without_agency_is_asked_to_create_one(client):
    UserFactory(email="solo@x.test")

    response = login(client, "solo@x.test")

    assert client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/agencies/new/"


def test_a_client_viewer_lands_on_the_portal(client):
    viewer = ClientViewerFactory(user=UserFactory(email="dana@client.test"))

    response = login(client, "dana@client.test")

    final = client.get(response["Location"], follow=True)
    assert final.redirect_chain[-1][0] == "/portal/"
    assert viewer.client.name.encode() in final.content


def test_a_wrong_password_is_refused_with_a_message(client, alice):
    response = login(client, "alice@a.test", "wrong-password")

    assert response.status_code == 200
    assert b"not correct" in response.content


def test_the_password_reset_email_sets_a_new_password(client, alice):
    client.post("/accounts/password/reset/", {"email": "alice@a.test"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", mail.outbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]

    form_page = client.get("/" + path, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else "/" + path
    done = client.post(
        action, {"password1": "a-brand-new-passphrase", "password2": "a-brand-new-passphrase"}
    )

    assert done.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-passphrase")


def test_an_anonymous_visitor_is_sent_to_login(client):
    AgencyFactory(slug="somewhere")

    response = client.get("/a/somewhere/clients/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/a/somewhere/clients/")


def test_an_anonymous_htmx_request_gets_403_not_a_login_page(client):
    AgencyFactory(slug="somewhere")

    response = client.get("/a/somewhere/clients/", headers={"HX-Request": "true"})

    assert response.status_code == 403


def test_an_anonymous_htmx_request_is_told_where_to_log_in(client):
    AgencyFactory(slug="somewhere")

    response = client.get("/a/somewhere/clients/", headers={"HX-Request": "true"})

    assert response["HX-Redirect"] == "/accounts/login/?next=/a/somewhere/clients/"


# ------------------------------------------------------------------ login rate limits
LIMITED = b"Too many failed login attempts"
X, Y, Z = "203.0.113.10", "198.51.100.20", "192.0.2.30"


@pytest.fixture
def login_limits(settings):
    """The project's login limits, counted in Redis as in production (shared by processes)."""
    from agencyops import settings as project

    settings.ACCOUNT_RATE_LIMITS = project.ACCOUNT_RATE_LIMITS
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
            # Fresh counters for each test without flushing a database others use.
            "KEY_PREFIX": f"test-login-limits-{uuid.uuid4().hex}",
        }
    }
    return project.ACCOUNT_RATE_LIMITS


def fail(client, email, times, **meta):
    for _ in range(times):
        response = login(client, email, "wrong-password", **meta)
        assert response.status_code == 200
        assert b"not correct" in response.content


def test_the_limits_under_test_are_the_projects(login_limits):
    assert login_limits == {"login_failed": "5/5m/key", "login": "30/m/ip"}
    assert "RedisCache" in __import__("django").conf.settings.CACHES["default"]["BACKEND"]


def test_failures_for_one_account_do_not_lock_out_another_behind_the_same_address(
    client, login_limits, alice, bob
):
    fail(client, "bob@a.test", 5, REMOTE_ADDR=X)
    # More than allauth's own per-address limit of 10 failures a minute.
    for _ in range(7):
        assert LIMITED in login(client, "bob@a.test", "wrong", REMOTE_ADDR=X).content

    response = login(client, "alice@a.test", REMOTE_ADDR=X)

    assert response.status_code == 302


def test_failures_from_one_address_do_not_lock_the_account_out_from_another(
    client, login_limits, alice
):
    fail(client, "alice@a.test", 5, REMOTE_ADDR=Y)
    assert LIMITED in login(client, "alice@a.test", REMOTE_ADDR=Y).content

    response = login(client, "alice@a.test", REMOTE_ADDR=Z)

    assert response.status_code == 302


def test_repeated_failures_for_an_account_are_limited_from_that_address(
    client, login_limits, alice
):
    fail(client, "alice@a.test", 5, REMOTE_ADDR=X)

    response = login(client, "alice@a.test", REMOTE_ADDR=X)  # even the right password

    assert response.status_code == 200
    assert LIMITED in response.content
    assert "_auth_user_id" not in client.session
    # The account is spelled any way the guesser likes: still the same counter.
    assert LIMITED in login(client, "ALICE@a.test", REMOTE_ADDR=X).content


def test_a_forged_forwarded_for_header_does_not_give_fresh_counters(client, login_limits, alice):
    for n in range(5):
        login(client, "alice@a.test", "wrong", REMOTE_ADDR=X, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}")

    response = login(client, "alice@a.test", REMOTE_ADDR=X, HTTP_X_FORWARDED_FOR="10.9.9.99")

    assert LIMITED in response.content


def test_behind_a_trusted_proxy_each_client_address_counts_apart(
    client, settings, login_limits, alice
):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    fail(client, "alice@a.test", 5, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=Y)
    limited = login(client, "alice@a.test", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=Y)
    assert LIMITED in limited.content

    response = login(client, "alice@a.test", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=Z)

    assert response.status_code == 302


def test_an_ipv6_client_counts_by_its_slash_64(client, login_limits, alice):
    fail(client, "alice@a.test", 5, REMOTE_ADDR="2001:db8:0:1::1")

    same_subscriber = login(client, "alice@a.test", REMOTE_ADDR="2001:db8:0:1::beef")
    elsewhere = login(client, "alice@a.test", REMOTE_ADDR="2001:db8:0:2::1")

    assert LIMITED in same_subscriber.content
    assert elsewhere.status_code == 302


def test_one_address_is_held_to_30_login_attempts_a_minute(client, login_limits, alice):
    # Password spraying: one guess each for many accounts from one address.
    for n in range(30):
        assert login(client, f"sprayed{n}@a.test", "Summer2026!", REMOTE_ADDR=X).status_code == 200

    response = login(client, "alice@a.test", REMOTE_ADDR=X)

    assert response.status_code == 429
    assert login(client, "alice@a.test", REMOTE_ADDR=Z).status_code == 302
