"""A client viewer sees only its own client's portal and can change nothing."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import URLPattern, URLResolver, get_resolver

from clients.models import ClientViewer, Invitation, Membership, User
from tests.factories import ClientFactory, ClientViewerFactory, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(client_a):
    return ClientViewerFactory(client=client_a, user=UserFactory(email="dana@acme.test")).user


def test_the_portal_shows_the_viewers_client_only(client, dana, agency_a):
    ClientFactory(agency=agency_a, name="Other Client Co")
    client.force_login(dana)

    response = client.get("/portal/")

    assert response.status_code == 200
    assert b"Acme Bakery" in response.content
    assert b"Other Client Co" not in response.content
    assert b"/a/agency-a/" not in response.content  # no links into the agency


def test_agency_pages_are_404_for_a_viewer(client, dana, client_a):
    client.force_login(dana)

    for path in [
        "/a/agency-a/",
        "/a/agency-a/clients/",
        f"/a/agency-a/clients/{client_a.public_id}/",
    ]:
        assert client.get(path).status_code == 404


def _all_paths():
    """Every concrete-enough URL in the project, to post to as a viewer."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    return list(walk(get_resolver().url_patterns))


def test_a_viewer_posting_anywhere_outside_their_account_changes_nothing(
    client, dana, agency_a, client_a
):
    client.force_login(dana)
    state_before = (
        Membership.objects.count(),
        ClientViewer.objects.count(),
        Invitation.objects.count(),
    )
    paths = [p for p in _all_paths() if not p.startswith(("accounts/", "admin/"))]
    assert "portal/" in paths
    assert "a/<slug:agency_slug>/clients/new/" in paths

    for pattern in paths:
        path = "/" + (
            pattern.replace("<slug:agency_slug>", "agency-a")
            .replace("<uuid:client_id>", str(client_a.public_id))
            .replace("<str:token>", "x")
        )
        response = client.post(path, {"name": "hacked", "email": "x@x.test", "role": "owner"})
        assert response.status_code == 403, path
        assert b"read-only" in response.content

    assert (
        Membership.objects.count(),
        ClientViewer.objects.count(),
        Invitation.objects.count(),
    ) == state_before


def test_a_viewer_can_still_log_out(client, dana):
    client.force_login(dana)

    client.post("/accounts/logout/")

    assert client.get("/portal/").status_code == 302


def test_staff_have_no_portal(client, alice):
    client.force_login(alice)

    response = client.get("/portal/")

    assert response.status_code == 403
    assert b"no client portal" in response.content


def test_an_admin_invites_a_viewer_who_signs_up_into_the_portal(client, ada, client_a):
    client.force_login(ada)
    client.post(
        f"/a/agency-a/clients/{client_a.public_id}/viewers/invite/", {"email": "dana@acme.test"}
    )
    invitation = Invitation.objects.get()
    assert (invitation.role, invitation.client) == ("viewer", client_a)
    client.logout()

    link = re.search(r"https?://\S+(/invitations/\S+/)", mail.outbox[-1].body).group(1)
    client.get(link)
    client.post(
        "/accounts/signup/",
        {
            "email": "dana@acme.test",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    dana = User.objects.get(email="dana@acme.test")
    assert dana.client_viewer.client == client_a
    assert not Membership.objects.filter(user=dana).exists()
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/portal/"


def test_an_admin_removes_a_viewers_access(client, ada, dana):
    client.force_login(ada)
    viewer = dana.client_viewer

    client.post(f"/a/agency-a/viewers/{viewer.public_id}/remove/")

    assert not ClientViewer.objects.exists()
    client.force_login(dana)
    assert client.get("/portal/").status_code == 403


def test_viewer_invitations_need_an_active_client(client, ada, client_a):
    client.force_login(ada)
    client.post(f"/a/agency-a/clients/{client_a.public_id}/archive/")

    response = client.post(
        f"/a/agency-a/clients/{client_a.public_id}/viewers/invite/",
        {"email": "d@x.test"},
        follow=True,
    )

    assert b"archived" in response.content
    assert not Invitation.objects.exists()


def test_a_staff_login_cannot_accept_a_viewer_invitation(client, bob, agency_a, client_a):
    invitation = InvitationFactory(
        agency=agency_a, email="bob@a.test", role="viewer", client=client_a
    )
    client.force_login(bob)

    client.get(f"/invitations/{invitation.token}/")
    response = client.post("/invitations/pending/")

    assert b"Client viewers need a separate login" in response.content
    assert not ClientViewer.objects.exists()
