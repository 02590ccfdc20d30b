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
