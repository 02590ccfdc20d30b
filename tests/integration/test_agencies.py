"""Creating agencies, switching between them, and the owner-only settings page."""

from __future__ import annotations

import pytest

from clients.models import Agency, Membership, Role

pytestmark = pytest.mark.django_db


def test_a_user_creates_a_second_agency_and_owns_it(client, alice):
    client.force_login(alice)

    response = client.post("/agencies/new/", {"name": "Second Shop", "slug": ""})

    agency = Agency.objects.get(name="Second Shop")
    assert response["Location"] == "/a/second-shop/"
    assert Membership.objects.get(agency=agency, user=alice).role == Role.OWNER


def test_a_taken_url_name_is_refused_with_a_message(client, alice, agency_b):
    client.force_login(alice)

    response = client.post("/agencies/new/", {"name": "Copycat", "slug": "agency-b"})

    assert b"Another agency already uses this URL name." in response.content
    assert not Agency.objects.filter(name="Copycat").exists()


@pytest.mark.parametrize(
    ("slug", "message"), [("admin", "is reserved"), ("-bad-", "lowercase letters")]
)
def test_bad_url_names_are_refused(client, alice, slug, message):
    client.force_login(alice)

    response = client.post("/agencies/new/", {"name": "Copycat", "slug": slug})

    assert message.encode() in response.content
    assert not Agency.objects.filter(name="Copycat").exists()


def test_the_switcher_lists_every_agency_of_the_user(client, alice, agency_b):
    Membership.objects.create(agency=agency_b, user=alice, role=Role.MEMBER)
    client.force_login(alice)

    response = client.get("/a/agency-a/")

    assert b'href="/a/agency-a/"' in response.content
    assert b'href="/a/agency-b/"' in response.content


def test_an_owner_renames_the_agency_and_its_url(client, alice, agency_a):
    client.force_login(alice)

    response = client.post(
        "/a/agency-a/settings/", {"name": "Agency Prime", "slug": "prime", "billing_email": ""}
    )

    assert response["Location"] == "/a/prime/settings/"
    agency_a.refresh_from_db()
    assert (agency_a.name, agency_a.slug) == ("Agency Prime", "prime")


def test_a_duplicate_slug_in_settings_is_refused(client, alice, agency_a, agency_b):
    client.force_login(alice)

    response = client.post(
        "/a/agency-a/settings/", {"name": "Agency A", "slug": "agency-b", "billing_email": ""}
    )

    assert b"Another agency already uses this URL name." in response.content
    agency_a.refresh_from_db()
    assert agency_a.slug == "agency-a"


@pytest.mark.parametrize("persona", ["ada", "bob"])
def test_only_owners_reach_settings(client, request, persona):
    client.force_login(request.getfixturevalue(persona))

    response = client.get("/a/agency-a/settings/")

    assert response.status_code == 403
    assert b"needs the Owner role" in response.content


def test_an_invite_only_install_refuses_new_agencies_to_non_staff(client, alice, settings):
    settings.ACCOUNT_ALLOW_REGISTRATION = False
    client.force_login(alice)

    response = client.post("/agencies/new/", {"name": "Side Shop", "slug": ""})

    assert response.status_code == 403
    assert b"invite-only" in response.content
    assert not Agency.objects.filter(name="Side Shop").exists()
