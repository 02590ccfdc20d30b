"""Owners change roles and remove members; an agency always keeps an owner."""

from __future__ import annotations

import pytest

from clients.models import Membership, Role

pytestmark = pytest.mark.django_db


def membership(user, agency):
    return Membership.objects.get(user=user, agency=agency)


def test_members_see_the_team(client, bob, alice):
    client.force_login(bob)

    response = client.get("/a/agency-a/members/")

    assert response.status_code == 200
    assert b"alice@a.test" in response.content
    assert b"Invite someone" not in response.content


def test_an_owner_changes_a_role(client, alice, bob, agency_a):
    client.force_login(alice)

    client.post(
        f"/a/agency-a/members/{membership(bob, agency_a).public_id}/role/", {"role": "admin"}
    )

    assert membership(bob, agency_a).role == Role.ADMIN


def test_an_admin_cannot_change_roles(client, ada, bob, agency_a):
    client.force_login(ada)

    response = client.post(
        f"/a/agency-a/members/{membership(bob, agency_a).public_id}/role/", {"role": "owner"}
    )

    assert response.status_code == 403
    assert membership(bob, agency_a).role == Role.MEMBER


def test_the_last_owner_cannot_step_down(client, alice, agency_a):
    client.force_login(alice)

    response = client.post(
        f"/a/agency-a/members/{membership(alice, agency_a).public_id}/role/",
        {"role": "member"},
        follow=True,
    )

    assert b"needs at least one owner" in response.content
    assert membership(alice, agency_a).role == Role.OWNER


def test_an_owner_removes_a_member(client, alice, bob, agency_a):
    client.force_login(alice)

    client.post(f"/a/agency-a/members/{membership(bob, agency_a).public_id}/remove/")

    assert not Membership.objects.filter(user=bob).exists()
    client.force_login(bob)
    assert client.get("/a/agency-a/").status_code == 404


def test_the_last_owner_cannot_be_removed(client, alice, agency_a):
    client.force_login(alice)

    client.post(f"/a/agency-a/members/{membership(alice, agency_a).public_id}/remove/")

    assert membership(alice, agency_a).role == Role.OWNER


def test_an_invalid_role_is_refused(client, alice, bob, agency_a):
    client.force_login(alice)

    response = client.post(
        f"/a/agency-a/members/{membership(bob, agency_a).public_id}/role/",
        {"role": "emperor"},
        follow=True,
    )

    assert b"Choose owner, admin or member." in response.content
    assert membership(bob, agency_a).role == Role.MEMBER
