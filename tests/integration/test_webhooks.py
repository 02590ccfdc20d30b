"""Inbound webhooks: a signed POST starts a run with the body as its input."""

from __future__ import annotations

import re
import time

import pytest

from agents.models import Agent, Run
from agents.webhooks import signature_for
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(client_a):
    return make_agent(client_a)


def create_secret(client, agent) -> str:
    response = client.post(f"/a/agency-a/agents/{agent.public_id}/webhook/", {"action": "create"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    return re.search(rb"whsec_[\w-]+", response.content).group(0).decode()


def post_hook(
    client, agent, body: bytes, secret: str, timestamp: int | None = None, slug="agency-a"
):
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return client.post(
        f"/hooks/{slug}/agents/{agent.public_id}/",
        body,
        content_type="application/json",
        headers={
            "X-AgencyOps-Timestamp": stamp,
            "X-AgencyOps-Signature": signature_for(secret, stamp, body),
        },
    )


def test_an_admin_creates_a_secret_that_is_shown_once(client, ada, agent):
    client.force_login(ada)

    secret = create_secret(client, agent)

    page = client.get(f"/a/agency-a/agents/{agent.public_id}/")
    assert secret.encode() not in page.content
    assert b"Secret: set (shown only when created)" in page.content
    assert f"/hooks/agency-a/agents/{agent.public_id}/".encode() in page.content
    # Not in the admin either: the field is not editable, so no form shows it.
    client.force_login(
        type(ada).objects.create_superuser("op", "op@ops.test", "pw-for-the-operator-1")
    )
    admin_page = client.get(f"/admin/agents/agent/{agent.pk}/change/")
    assert admin_page.status_code == 200
    assert secret.encode() not in admin_page.content


def test_a_member_cannot_create_a_secret(client, bob, agent):
    client.force_login(bob)

    response = client.post(f"/a/agency-a/agents/{agent.public_id}/webhook/", {"action": "create"})

    assert response.status_code == 403
    agent.refresh_from_db()
    assert agent.webhook_secret == ""


def test_a_signed_call_starts_a_run_with_the_body_as_input(client, ada, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)
    client.logout()  # outside systems have no session
    body = b'{"page": "https://acmebakery.test/new-menu"}'

    response = post_hook(client, agent, body, secret)

    assert response.status_code == 202
    run = Run.objects.get(public_id=response.json()["run"])
    assert run.trigger == Run.Trigger.WEBHOOK
    assert run.input == body.decode()
    assert run.status == Run.Status.QUEUED


def test_the_same_signed_request_twice_starts_one_run(client, ada, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)
    stamp = int(time.time())

    first = post_hook(client, agent, b"{}", secret, stamp)
    replay = post_hook(client, agent, b"{}", secret, stamp)

    assert first.status_code == 202
    assert replay.status_code == 409
    assert replay.json() == {"error": "This signed request was already received."}
    assert Run.objects.filter(agent=agent).count() == 1


@pytest.mark.parametrize(
    ("tamper", "status", "message"),
    [
        ("signature", 401, "The signature does not match"),
        ("old", 401, "more than 300 s from the server's clock"),
        ("future", 401, "more than 300 s from the server's clock"),
        ("no-headers", 400, "Send the X-AgencyOps-Timestamp"),
        ("bad-stamp", 400, "Unix time in seconds"),
    ],
)
def test_bad_calls_are_refused_with_a_reason_and_start_nothing(
    client, ada, agent, tamper, status, message
):
    client.force_login(ada)
    secret = create_secret(client, agent)
    url = f"/hooks/agency-a/agents/{agent.public_id}/"

    if tamper == "signature":
        response = post_hook(client, agent, b"{}", "whsec_wrong")
    elif tamper == "old":
        response = post_hook(client, agent, b"{}", secret, int(time.time()) - 301)
    elif tamper == "future":
        response = post_hook(client, agent, b"{}", secret, int(time.time()) + 301)
    elif tamper == "no-headers":
        response = client.post(url, b"{}", content_type="application/json")
    else:
        response = client.post(
            url,
            b"{}",
            content_type="application/json",
            headers={"X-AgencyOps-Timestamp": "yesterday", "X-AgencyOps-Signature": "sha256=0"},
        )

    assert response.status_code == status
    assert message in response.json()["error"]
    assert not Run.objects.filter(agent=agent).exists()


def test_a_replaced_secret_refuses_the_old_one(client, ada, agent):
    client.force_login(ada)
    old = create_secret(client, agent)
    new = create_secret(client, agent)

    assert post_hook(client, agent, b"{}", old).status_code == 401
    assert post_hook(client, agent, b"{}", new).status_code == 202


def test_turning_the_webhook_off_answers_404_like_an_unknown_agent(client, ada, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)
    client.post(f"/a/agency-a/agents/{agent.public_id}/webhook/", {"action": "remove"})

    response = post_hook(client, agent, b"{}", secret)

    assert response.status_code == 404
    assert response.json() == {"error": "No webhook here."}


def test_another_agencys_slug_does_not_reach_the_agent(client, ada, carol, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)

    response = post_hook(client, agent, b"{}", secret, slug="agency-b")

    assert response.status_code == 404
    assert not Run.objects.exists()


def test_a_paused_agent_refuses_webhooks_and_says_why(client, ada, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)
    Agent.objects.filter(pk=agent.pk).update(enabled=False)

    response = post_hook(client, agent, b"{}", secret)

    assert response.status_code == 409
    assert "paused" in response.json()["error"]


def test_an_oversized_body_is_refused(client, ada, agent, settings):
    settings.WEBHOOK_MAX_BYTES = 100
    client.force_login(ada)
    secret = create_secret(client, agent)

    response = post_hook(client, agent, b"x" * 101, secret)

    assert response.status_code == 413
    assert not Run.objects.exists()


@pytest.mark.parametrize("tail", ["\xa0", " ", "é"])
def test_a_signature_must_be_sent_exactly(client, ada, agent, tail):
    """No second spelling of one signed request: that would let a replay through."""
    client.force_login(ada)
    secret = create_secret(client, agent)
    stamp = str(int(time.time()))
    signature = signature_for(secret, stamp, b"{}")

    first = client.post(
        f"/hooks/agency-a/agents/{agent.public_id}/",
        b"{}",
        content_type="application/json",
        headers={"X-AgencyOps-Timestamp": stamp, "X-AgencyOps-Signature": signature},
    )
    again = client.post(
        f"/hooks/agency-a/agents/{agent.public_id}/",
        b"{}",
        content_type="application/json",
        headers={"X-AgencyOps-Timestamp": stamp, "X-AgencyOps-Signature": signature + tail},
    )

    assert first.status_code == 202
    assert again.status_code == 401
    assert Run.objects.filter(agent=agent).count() == 1


def test_a_body_with_a_nul_byte_is_refused_as_not_text(client, ada, agent):
    client.force_login(ada)
    secret = create_secret(client, agent)

    response = post_hook(client, agent, b'{"a": "\x00"}', secret)

    assert response.status_code == 400
    assert "NUL" in response.json()["error"]
