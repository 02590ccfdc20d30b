"""The Django admin: staff only, every model registered and browsable."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import ClientFactory, InvitationFactory, UserFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = ("clients", "agents")


def test_every_project_model_is_registered():
    models = [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]

    missing = [m.__name__ for m in models if not admin.site.is_registered(m)]
    assert models
    assert not missing, missing


def test_non_staff_are_kept_out(client, alice):
    client.force_login(alice)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_can_browse_and_search_every_changelist(client, agency_a, client_a):
    InvitationFactory(agency=agency_a)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    for model in [m for m in apps.get_models() if m._meta.app_label in PROJECT_APPS]:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(url, {"q": "acme"}).status_code == 200, url


def test_the_invitation_token_is_not_shown(client, agency_a):
    invitation = InvitationFactory(agency=agency_a)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(f"/admin/clients/invitation/{invitation.pk}/change/")

    assert page.status_code == 200
    assert invitation.token.encode() not in page.content


def test_the_client_changelist_filters_archived(client, agency_a):
    ClientFactory(agency=agency_a, name="Live Co")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/clients/client/", {"archived_at__isnull": "True"})

    assert b"Live Co" in response.content


def test_admin_login_goes_through_allauth_so_two_factor_applies(client):
    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_agent_versions_are_read_only_in_the_admin(client, client_a):
    from tests.factories import make_agent

    version = make_agent(client_a).versions.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get("/admin/agents/agentversion/add/").status_code == 403
    assert (
        client.post(f"/admin/agents/agentversion/{version.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert (
        client.get(f"/admin/agents/agentversion/{version.pk}/change/").status_code == 200
    )  # view only


# ------------------------------------------------------------------ secrets
# (changelist, lookup, value, text of the row the filter would otherwise show)
SECRET_FILTERS = [
    ("/admin/agents/agent/", "webhook_secret__regex", "^whsec_", "SEO audit"),
    ("/admin/agents/run/", "agent__webhook_secret__regex", "^whsec_", "SEO audit"),
    ("/admin/clients/agency/", "agents__webhook_secret__startswith", "whsec_", "Agency A"),
    ("/admin/agents/alertchannel/", "secret__regex", "^[0-9a-f]", "Signed hook"),
    ("/admin/agents/alertchannel/", "target__contains", "sl4cktok3n", "Ops Slack"),
    ("/admin/clients/agency/", "alert_channels__target__contains", "sl4ck", "Agency A"),
    ("/admin/clients/invitation/", "token_hash__regex", "^[0-9a-f]", "invitee@x.test"),
    ("/admin/clients/user/", "password__startswith", "md5", "alice@a.test"),
    ("/admin/clients/membership/", "user__password__startswith", "md5", "alice@a.test"),
    ("/admin/mfa/authenticator/", "data__secret__regex", "^JBSW", "alice@a.test"),
    ("/admin/mfa/authenticator/", "data__icontains", "JBSW", "alice@a.test"),
]
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"
SLACK_URL = "https://hooks.slack.com/services/T0001/B0002/sl4cktok3nsl4cktok3n"


@pytest.fixture
def secrets_everywhere(client_a, alice):
    """One of every secret the admin could be asked about, with a run to reach them through."""
    from allauth.mfa.models import Authenticator

    from agents import webhooks
    from agents.models import AlertChannel
    from tests.factories import make_agent, make_run

    agent = make_agent(client_a)
    make_run(agent)
    slack = AlertChannel.objects.create(
        agency=client_a.agency, name="Ops Slack", kind="slack", target=SLACK_URL
    )
    signed = AlertChannel.objects.create(
        agency=client_a.agency,
        name="Signed hook",
        kind="webhook",
        target="https://hooks.example.test/agencyops/4lerts-t0ken",
        secret="f00d" * 16,
    )
    invitation = InvitationFactory(agency=client_a.agency, email="invitee@x.test")
    totp = Authenticator.objects.create(
        user=alice, type=Authenticator.Type.TOTP, data={"secret": TOTP_SECRET}
    )
    return {
        "webhook_secret": webhooks.set_webhook_secret(agent),
        "agent": agent,
        "slack": slack,
        "signed": signed,
        "invitation": invitation,
        "totp": totp,
    }


@pytest.mark.parametrize(("url", "lookup", "value", "row"), SECRET_FILTERS)
def test_a_filter_on_a_secret_is_refused_and_filters_nothing(
    client, secrets_everywhere, url, lookup, value, row
):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    unfiltered = client.get(url)
    assert unfiltered.status_code == 200
    assert row.encode() in unfiltered.content  # the row a working filter would keep

    response = client.get(url, {lookup: value})

    # DisallowedModelAdminLookup: the operator sees Django's plain "Bad Request (400)".
    assert response.status_code == 400
    assert b"Bad Request" in response.content
    assert row.encode() not in response.content


def test_an_ordinary_filter_still_works(client, secrets_everywhere):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/agents/alertchannel/", {"kind__exact": "slack"})

    assert response.status_code == 200
    assert b"Ops Slack" in response.content
    assert b"Signed hook" not in response.content


def test_no_admin_page_shows_a_secret(client, secrets_everywhere):
    s = secrets_everywhere
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    pages = [
        "/admin/agents/agent/",
        f"/admin/agents/agent/{s['agent'].pk}/change/",
        "/admin/agents/alertchannel/",
        f"/admin/agents/alertchannel/{s['slack'].pk}/change/",
        f"/admin/agents/alertchannel/{s['signed'].pk}/change/",
        "/admin/mfa/authenticator/",
        f"/admin/mfa/authenticator/{s['totp'].pk}/change/",
        f"/admin/clients/invitation/{s['invitation'].pk}/change/",
    ]
    secrets = [
        s["webhook_secret"],
        "sl4cktok3n",
        "4lerts-t0ken",
        s["signed"].secret,
        TOTP_SECRET,
        s["invitation"].token,
        s["invitation"].token_hash,
    ]

    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        shown = [secret for secret in secrets if secret.encode() in response.content]
        assert shown == [], page
    # Where an alert goes stays visible: its host.
    assert b"hooks.slack.com" in client.get("/admin/agents/alertchannel/").content


def test_search_does_not_reach_a_slack_url(client, secrets_everywhere):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/agents/alertchannel/", {"q": "sl4cktok3n"})

    assert response.status_code == 200
    assert b"Ops Slack" not in response.content
