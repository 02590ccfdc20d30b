"""Login lands each kind of user in the right place; passwords can be reset."""

from __future__ import annotations

import re

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


def login(client, email, password=PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password})


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
