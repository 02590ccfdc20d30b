"""Owners and admins invite people by email.

Invitations are accepted once, expire, and can be revoked."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from clients.models import Agency, ClientViewer, Invitation, Membership, Role, User, hash_token
from tests.factories import PASSWORD, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

INVITE = "/a/agency-a/members/invite/"


PENDING = "/invitations/pending/"


def accept_url(invitation):
    """The link in the invitation email."""
    return f"/invitations/{invitation.token}/"


def accept(client, invitation):
    """Open the emailed link, then press Accept."""
    client.get(accept_url(invitation))
    return client.post(PENDING)


def test_an_owner_invites_by_email_and_the_email_has_the_link(client, alice):
    client.force_login(alice)

    response = client.post(INVITE, {"email": "New.Person@X.test", "role": "admin"})

    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "new.person@x.test",
        "admin",
        alice,
    )
    assert mail.outbox[0].to == ["new.person@x.test"]
    link = re.search(r"https?://\S+/invitations/(\S+)/", mail.outbox[0].body)
    assert link
    # Only a hash is stored; the link's token opens this very invitation.
    assert link.group(1) not in invitation.token_hash
    assert invitation.token_hash == hash_token(link.group(1))
    assert "Agency A" in mail.outbox[0].subject


def test_an_htmx_invite_returns_the_refreshed_region_with_a_toast(client, alice):
    client.force_login(alice)

    response = client.post(
        INVITE, {"email": "n@x.test", "role": "member"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.content.lstrip().startswith(b'<div id="member-list"')
    assert b"n@x.test" in response.content
    assert "Invitation sent to n@x.test" in response["HX-Trigger"]


def test_bad_input_comes_back_with_the_error_and_what_was_typed(client, alice):
    client.force_login(alice)

    response = client.post(
        INVITE, {"email": "not-an-address", "role": "member"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content
    assert b'value="not-an-address"' in response.content
    assert not Invitation.objects.exists()


def test_an_admin_invites_but_not_an_owner(client, ada):
    client.force_login(ada)

    client.post(INVITE, {"email": "m@x.test", "role": "member"})
    response = client.post(INVITE, {"email": "o@x.test", "role": "owner"})

    assert list(Invitation.objects.values_list("email", flat=True)) == ["m@x.test"]
    assert b"Select a valid choice" in response.content


def test_a_member_cannot_invite(client, bob):
    client.force_login(bob)

    response = client.post(INVITE, {"email": "m@x.test", "role": "member"})

    assert response.status_code == 403
    assert b"needs the Admin role" in response.content
    assert not Invitation.objects.exists()


def test_an_existing_member_is_not_invited_again(client, alice, bob):
    client.force_login(alice)

    response = client.post(INVITE, {"email": "BOB@a.test", "role": "member"})

    assert b"already a member" in response.content
    assert not Invitation.objects.exists()


def test_a_second_open_invitation_to_one_address_is_refused(client, alice):
    client.force_login(alice)
    client.post(INVITE, {"email": "n@x.test", "role": "member"})

    response = client.post(INVITE, {"email": "n@x.test", "role": "admin"})

    assert b"already has an open invitation" in response.content
    assert Invitation.objects.count() == 1


def test_a_logged_in_invitee_accepts_and_joins_with_the_role(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test", role=Role.ADMIN)
    zed = UserFactory(email="zed@x.test")
    client.force_login(zed)

    page = client.get(accept_url(invitation), follow=True)
    assert b"Accept invitation" in page.content
    response = accept(client, invitation)

    assert response.status_code == 302
    assert Membership.objects.get(user=zed, agency=agency_a).role == Role.ADMIN
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.ACCEPTED
    assert invitation.accepted_by == zed
    assert client.get("/", follow=True).redirect_chain[-1][0] == "/a/agency-a/"


def test_a_new_person_signs_up_through_the_invitation_without_a_new_agency(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="newbie@x.test", role=Role.MEMBER)
    agencies_before = Agency.objects.count()

    client.get(accept_url(invitation))
    signup_page = client.get("/accounts/signup/")
    assert b"Join Agency A" in signup_page.content
    assert b"agency_name" not in signup_page.content
    response = client.post(
        "/accounts/signup/",
        {
            "email": "newbie@x.test",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    newbie = User.objects.get(email="newbie@x.test")
    assert Membership.objects.get(user=newbie).agency == agency_a
    assert Agency.objects.count() == agencies_before
    # The invitation link proved the address: no second verification round.
    assert client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/a/agency-a/"
    assert Invitation.objects.get().status == Invitation.Status.ACCEPTED


def test_signing_up_with_another_address_than_invited_is_refused(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="newbie@x.test")
    client.get(accept_url(invitation))

    response = client.post(
        "/accounts/signup/",
        {
            "email": "other@x.test",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    assert b"This invitation is for newbie@x.test" in response.content
    assert not User.objects.exists()
    assert Invitation.objects.get().status == Invitation.Status.PENDING


def test_an_existing_user_logs_in_from_the_invitation_and_accepts(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test")
    UserFactory(email="zed@x.test")
    client.get(accept_url(invitation))

    response = client.post("/accounts/login/", {"login": "zed@x.test", "password": PASSWORD})

    assert response["Location"] == PENDING
    accept(client, invitation)
    assert Membership.objects.filter(user__email="zed@x.test", agency=agency_a).exists()


def test_the_wrong_logged_in_user_cannot_accept(client, agency_a, carol):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test")
    client.force_login(carol)

    response = accept(client, invitation)

    assert response.status_code == 400
    assert b"This invitation is for zed@x.test" in response.content
    assert not Membership.objects.filter(user=carol, agency=agency_a).exists()


def test_a_used_invitation_cannot_be_used_again(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test")
    zed = UserFactory(email="zed@x.test")
    client.force_login(zed)
    accept(client, invitation)

    response = accept(client, invitation)

    assert response.status_code == 410
    assert b"already been used" in response.content
    assert Membership.objects.filter(user=zed).count() == 1


def test_an_expired_invitation_is_refused(client, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test")
    zed = UserFactory(email="zed@x.test")
    client.force_login(zed)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = accept(client, invitation)

    assert response.status_code == 410
    assert b"expired" in response.content
    assert not Membership.objects.filter(user=zed).exists()


def test_an_unknown_token_gets_a_clear_404(client):
    response = client.get("/invitations/not-a-real-token/")

    assert response.status_code == 404
    assert b"not valid" in response.content


def test_an_admin_revokes_and_the_link_stops_working(client, ada, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="zed@x.test")
    client.force_login(ada)

    client.post(f"/a/agency-a/invitations/{invitation.public_id}/revoke/")

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED
    client.logout()
    response = client.get(accept_url(invitation), follow=True)
    assert response.status_code == 410
    assert b"revoked" in response.content


def test_revoking_twice_says_so(client, alice, agency_a):
    invitation = InvitationFactory(agency=agency_a, status=Invitation.Status.REVOKED)
    client.force_login(alice)

    response = client.post(f"/a/agency-a/invitations/{invitation.public_id}/revoke/", follow=True)

    assert b"already used or revoked" in response.content


def test_a_client_viewer_login_cannot_become_staff(client, agency_a, client_a):
    viewer = ClientViewer.objects.create(
        agency=agency_a, client=client_a, user=UserFactory(email="v@x.test")
    )
    invitation = InvitationFactory(agency=agency_a, email="v@x.test")
    client.force_login(viewer.user)

    response = accept(client, invitation)

    assert response.status_code == 403
    assert b"Client viewer logins are read-only" in response.content
    assert Invitation.objects.get().status == Invitation.Status.PENDING
    assert not Membership.objects.filter(user=viewer.user).exists()


def test_the_members_page_lists_open_invitations_with_expiry(client, alice, agency_a):
    InvitationFactory(agency=agency_a, email="zed@x.test")
    client.force_login(alice)

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = client.get("/a/agency-a/members/")

    assert b"zed@x.test" in response.content
    assert b"Expired" in response.content


def test_a_signup_whose_invitation_dies_meanwhile_leaves_nothing_behind(client, agency_a, alice):
    invitation = InvitationFactory(agency=agency_a, email="newbie@x.test")
    client.get(accept_url(invitation))
    # Revoked by an admin while the invitee fills in the form.
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)

    response = client.post(
        "/accounts/signup/",
        {
            "email": "newbie@x.test",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
    )

    assert response.status_code == 200
    assert not User.objects.filter(email="newbie@x.test").exists()
    assert Membership.objects.filter(agency=agency_a).count() == 1
