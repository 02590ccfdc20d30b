"""Invitation edge cases found in review: secrets, verification, closed signup, races."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import timezone

from clients.models import Invitation, Membership, Role, User
from tests.factories import InvitationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORDS = {"password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"}


def test_the_raw_token_is_stored_nowhere(agency_a, alice, client):
    client.force_login(alice)
    client.post("/a/agency-a/members/invite/", {"email": "n@x.test", "role": "member"})
    token = re.search(r"/invitations/(\S+)/", mail.outbox[-1].body).group(1)

    invitation = Invitation.objects.get()
    assert token not in str(invitation.__dict__)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert (
        token.encode()
        not in client.get(f"/admin/clients/invitation/{invitation.pk}/change/").content
    )


def test_the_link_moves_the_token_out_of_the_address_bar(client, agency_a):
    invitation = InvitationFactory(agency=agency_a)

    response = client.get(f"/invitations/{invitation.token}/")

    assert response.status_code == 302
    assert response["Location"] == "/invitations/pending/"
    assert invitation.token not in client.get("/invitations/pending/").content.decode()


def test_staff_cannot_probe_the_token_hash_in_the_admin(client, agency_a):
    InvitationFactory(agency=agency_a)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/clients/invitation/", {"token_hash__startswith": "a"})

    assert response.status_code == 400


def test_opening_a_link_does_not_verify_another_address_at_signup(client, agency_a):
    """A visitor who opened someone's link and then signs up as themselves must verify."""
    invitation = InvitationFactory(agency=agency_a, email="attacker@evil.test")
    client.get(f"/invitations/{invitation.token}/")
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.REVOKED)

    client.post(
        "/accounts/signup/", {"agency_name": "Victim Co", "email": "victim@corp.test", **PASSWORDS}
    )

    victim = User.objects.get(email="victim@corp.test")
    assert list(EmailAddress.objects.filter(user=victim).values_list("email", "verified")) == [
        ("victim@corp.test", False)
    ]
    assert not EmailAddress.objects.filter(email="attacker@evil.test").exists()


def test_a_dead_invitation_does_not_reopen_closed_signup(client, settings, agency_a):
    settings.ACCOUNT_ALLOW_REGISTRATION = False
    invitation = InvitationFactory(agency=agency_a, email="v@x.test")
    client.get(f"/invitations/{invitation.token}/")
    Invitation.objects.filter(pk=invitation.pk).update(status=Invitation.Status.ACCEPTED)

    response = client.post(
        "/accounts/signup/", {"agency_name": "Side", "email": "other@x.test", **PASSWORDS}
    )

    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.exists()


def test_an_open_invitation_lets_an_invitee_through_closed_signup(client, settings, agency_a):
    settings.ACCOUNT_ALLOW_REGISTRATION = False
    invitation = InvitationFactory(agency=agency_a, email="v@x.test")
    client.get(f"/invitations/{invitation.token}/")

    client.post("/accounts/signup/", {"email": "v@x.test", **PASSWORDS})

    assert Membership.objects.filter(user__email="v@x.test", agency=agency_a).exists()


def test_a_failed_email_saves_no_invitation_and_says_so(client, alice, settings):
    settings.EMAIL_BACKEND = "tests.failing_email.EmailBackend"
    client.force_login(alice)

    response = client.post("/a/agency-a/members/invite/", {"email": "n@x.test", "role": "member"})

    assert response.status_code == 200
    assert b"could not be sent, so no invitation was saved" in response.content
    assert not Invitation.objects.exists()


def test_resend_issues_a_new_link_and_kills_the_old_one(client, alice, agency_a):
    invitation = InvitationFactory(agency=agency_a, email="n@x.test")
    old_token = invitation.token
    client.force_login(alice)

    client.post(f"/a/agency-a/invitations/{invitation.public_id}/resend/")

    new_token = re.search(r"/invitations/(\S+)/", mail.outbox[-1].body).group(1)
    assert new_token != old_token
    client.logout()
    assert client.get(f"/invitations/{old_token}/").status_code == 404
    assert client.get(f"/invitations/{new_token}/", follow=True).status_code == 200


def test_a_lapsed_invitation_makes_way_for_a_new_one(client, alice, agency_a):
    old = InvitationFactory(
        agency=agency_a, email="n@x.test", expires_at=timezone.now() - timedelta(days=1)
    )
    client.force_login(alice)

    client.post("/a/agency-a/members/invite/", {"email": "n@x.test", "role": "member"})

    old.refresh_from_db()
    assert old.status == Invitation.Status.EXPIRED
    assert Invitation.objects.filter(status=Invitation.Status.PENDING).count() == 1


def test_invitations_of_a_demoted_admin_stop_working(client, alice, ada, agency_a):
    invitation = InvitationFactory(agency=agency_a, invited_by=ada)
    client.force_login(alice)

    client.post(
        f"/a/agency-a/members/{Membership.objects.get(user=ada).public_id}/role/",
        {"role": "member"},
    )

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED


def test_invitations_of_a_removed_member_stop_working(client, alice, ada, agency_a):
    invitation = InvitationFactory(agency=agency_a, invited_by=ada)
    client.force_login(alice)

    client.post(f"/a/agency-a/members/{Membership.objects.get(user=ada).public_id}/remove/")

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED


def test_an_owner_demoted_meanwhile_cannot_change_roles(client, alice, bob, agency_a):
    """The check reads the actor's role under the lock, not the one loaded with the request."""
    from clients import services

    other_owner = MembershipFactory(agency=agency_a, role=Role.OWNER)
    stale_alice = Membership.objects.get(user=alice)
    Membership.objects.filter(pk=stale_alice.pk).update(role=Role.MEMBER)

    with pytest.raises(services.ServiceError, match="Only owners"):
        services.change_role(Membership.objects.get(user=bob), Role.OWNER, stale_alice)
    assert other_owner.role == Role.OWNER
