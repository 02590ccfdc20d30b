"""Signup creates an agency owned by the new user, after mandatory email verification."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from clients.models import Agency, Membership, Role, User

pytestmark = pytest.mark.django_db

SIGNUP = "/accounts/signup/"


def signup(client, **overrides):
    data = {
        "agency_name": "Moonlight Media",
        "email": "mia@moonlight.test",
        "password1": "a-long-unusual-passphrase",
        "password2": "a-long-unusual-passphrase",
    }
    data.update(overrides)
    return client.post(SIGNUP, data)


def confirmation_link(message) -> str:
    match = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+", message.body)
    assert match, message.body
    return match.group(0)


def test_it_creates_the_user_and_an_agency_they_own(client):
    response = signup(client)

    assert response.status_code == 302
    user = User.objects.get(email="mia@moonlight.test")
    agency = Agency.objects.get(name="Moonlight Media")
    assert agency.slug == "moonlight-media"
    assert Membership.objects.get(user=user).role == Role.OWNER
    assert user.last_agency == agency


def test_it_requires_email_verification_before_the_dashboard(client):
    response = signup(client)

    assert response["Location"] == reverse("account_email_verification_sent")
    assert not EmailAddress.objects.get(email="mia@moonlight.test").verified
    # Not logged in yet: the agency pages send the visitor to log in.
    assert client.get("/a/moonlight-media/").status_code == 302
    # Logging in before verifying ends at the "verify your email" page again.
    login = client.post(
        "/accounts/login/", {"login": "mia@moonlight.test", "password": "a-long-unusual-passphrase"}
    )
    assert login["Location"] == reverse("account_email_verification_sent")


def test_the_emailed_link_verifies_and_lands_on_the_agency(client):
    signup(client)
    assert len(mail.outbox) == 1
    link = confirmation_link(mail.outbox[0])

    page = client.get(link)
    assert page.status_code == 200
    response = client.post(link)

    assert EmailAddress.objects.get(email="mia@moonlight.test").verified
    assert (
        client.get(response["Location"], follow=True).redirect_chain[-1][0] == "/a/moonlight-media/"
    )


def test_a_taken_agency_name_gets_a_free_url_name(client, agency_a):
    signup(client, agency_name="Agency A")

    agency = Agency.objects.get(memberships__user__email="mia@moonlight.test")
    assert agency.slug == "agency-a-2"


def test_a_reserved_word_is_not_used_as_url_name(client):
    signup(client, agency_name="Admin")

    assert Agency.objects.get(name="Admin").slug == "admin-agency"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"agency_name": "  "}, "agency_name", "Name your agency."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password2": "something-else-entirely"}, "password2", "same password"),
    ],
)
def test_bad_signup_data_is_explained_and_nothing_is_saved(client, overrides, field, message):
    response = signup(client, **overrides)

    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors
    assert not User.objects.exists()
    assert not Agency.objects.exists()


def test_an_existing_email_creates_no_second_account_or_agency(client, alice):
    before = Agency.objects.count()

    signup(client, email="alice@a.test")

    assert User.objects.filter(email="alice@a.test").count() == 1
    assert Agency.objects.count() == before


def test_signup_can_be_closed_to_uninvited_people(client, settings):
    settings.ACCOUNT_ALLOW_REGISTRATION = False

    response = signup(client)

    assert "account/signup_closed.html" in [t.name for t in response.templates]
    assert not User.objects.exists()
