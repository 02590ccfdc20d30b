"""Agent pages: create, edit (new versions), run now, the run page."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.models import Agent, AgentVersion, Dream, ModelPrice, Run, RunEvent
from agents.prices import ensure_default_prices
from tests.factories import ClientFactory, make_agent, make_run

pytestmark = pytest.mark.django_db


def agent_data(client, **overrides):
    ensure_default_prices()
    data = {
        "client": client.pk,
        "name": "Nightly SEO audit",
        "instructions": "Audit https://acmebakery.test and write a report.",
        "model": ModelPrice.objects.get(model="claude-sonnet-4-6").pk,
        "max_runtime_seconds": 300,
        "budget_usd": "0.50",
        "retry_attempts": 4,
        "retry_backoff_seconds": "2",
        "schedule": "",
        "timezone": "",
        "overlap_policy": "skip",
        "missed_fire_policy": "run_once",
        "tools": ["list_files", "read_file", "write_file", "memory"],
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_default_prices_fill_gaps_and_keep_edits():
    ModelPrice.objects.filter(model="claude-haiku-4-5").delete()
    ModelPrice.objects.filter(model="claude-sonnet-4-6").update(input_per_mtok=Decimal("2.5"))

    ensure_default_prices()

    assert ModelPrice.objects.get(model="claude-haiku-4-5").output_per_mtok == Decimal(5)
    assert ModelPrice.objects.get(model="claude-sonnet-4-6").input_per_mtok == Decimal("2.5")


def test_an_admin_creates_an_agent_with_version_one(client, ada, client_a, agency_a):
    client.force_login(ada)

    response = client.post("/a/agency-a/agents/new/", agent_data(client_a))

    agent = Agent.objects.get()
    assert agent.agency == agency_a
    assert response["Location"] == f"/a/agency-a/agents/{agent.public_id}/"
    version = AgentVersion.objects.get(agent=agent)
    assert version.number == 1
    assert version.definition["model"] == "claude-sonnet-4-6"
    assert version.definition["budget_usd"] == "0.50"


def test_editing_publishes_a_new_version_only_when_something_changed(client, ada, client_a):
    agent = make_agent(client_a)
    client.force_login(ada)
    url = f"/a/agency-a/agents/{agent.public_id}/edit/"

    client.post(
        url,
        agent_data(
            client_a,
            name="SEO audit",
            instructions="Audit the site for SEO problems.",
            budget_usd="",
            max_runtime_seconds=900,
            retry_backoff_seconds="2.00",
        ),
    )
    assert agent.versions.count() == 1
    client.post(url, agent_data(client_a, instructions="Audit the blog too."))

    assert list(agent.versions.values_list("number", flat=True)) == [2, 1]
    assert agent.versions.first().definition["instructions"] == "Audit the blog too."


def test_another_agencys_client_is_not_a_valid_choice(client, ada, agency_b):
    foreign = ClientFactory(agency=agency_b)
    client.force_login(ada)

    response = client.post("/a/agency-a/agents/new/", agent_data(foreign))

    assert b"Select a valid choice" in response.content
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"max_runtime_seconds": 1}, "greater than or equal to 10"),
        ({"budget_usd": "0"}, "greater than or equal to 0.01"),
        ({"retry_attempts": 0}, "greater than or equal to 1"),
        ({"name": ""}, "This field is required."),
    ],
)
def test_bad_agent_settings_are_explained_and_nothing_is_saved(
    client, ada, client_a, overrides, message
):
    client.force_login(ada)

    response = client.post("/a/agency-a/agents/new/", agent_data(client_a, **overrides))

    assert message.encode() in response.content
    assert not Agent.objects.exists()


def test_a_member_cannot_create_but_can_run_now(client, bob, client_a):
    agent = make_agent(client_a)
    client.force_login(bob)

    assert client.post("/a/agency-a/agents/new/", agent_data(client_a)).status_code == 403
    response = client.post(f"/a/agency-a/agents/{agent.public_id}/run/")

    run = Run.objects.get()
    assert response["Location"] == f"/a/agency-a/runs/{run.public_id}/"
    assert (run.status, run.trigger, run.triggered_by, run.version.number) == (
        "queued",
        "manual",
        bob,
        1,
    )


def test_an_archived_clients_agent_does_not_run(client, bob, client_a):
    agent = make_agent(client_a)
    client_a.archived_at = client_a.created_at
    client_a.save()
    client.force_login(bob)

    response = client.post(f"/a/agency-a/agents/{agent.public_id}/run/", follow=True)

    assert b"is archived" in response.content
    assert not Run.objects.exists()


def test_the_run_page_polls_while_the_run_is_going(client, bob, client_a):
    run = make_run(make_agent(client_a))
    client.force_login(bob)

    page = client.get(f"/a/agency-a/runs/{run.public_id}/")
    region = client.get(f"/a/agency-a/runs/{run.public_id}/", headers={"HX-Request": "true"})

    assert b'hx-trigger="every 2s"' in page.content
    assert region.content.lstrip().startswith(b'<div id="run-live"')
    assert b"Waiting for a worker" in region.content


def test_a_finished_run_shows_its_report_sanitized_and_stops_polling(client, bob, client_a):
    run = make_run(
        make_agent(client_a),
        status="succeeded",
        output="# Audit\n\n- fix titles\n- 3 pages share one <title>\n\n"
        "<script>alert(1)</script><img src=x onerror=alert(1)>\n\n[link](javascript:alert(1))",
        cost_usd=Decimal("0.012345"),
    )
    RunEvent.objects.create(
        agency=run.agency, run=run, seq=1, type="model.response", data={"turn": 1}, output_tokens=12
    )
    client.force_login(bob)

    response = client.get(f"/a/agency-a/runs/{run.public_id}/")

    assert b"every 2s" not in response.content
    assert b"<h1>Audit</h1>" in response.content
    assert b"<li>fix titles</li>" in response.content
    # Raw HTML from the model is shown as text, never as markup.
    assert b"<li>3 pages share one &lt;title&gt;</li>" in response.content
    assert b"<script>alert(1)" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content
    assert b"<img src=x" not in response.content
    assert b"javascript:" not in response.content
    assert b"$0.0123" in response.content
    assert b"model.response" in response.content


def test_the_agent_page_says_which_model_endpoint_is_used(client, bob, client_a, settings):
    agent = make_agent(client_a)
    client.force_login(bob)

    page = client.get(f"/a/agency-a/agents/{agent.public_id}/")

    assert b"Simulated model at" in page.content
    settings.ANTHROPIC_API_KEY = "sk-ant-real"
    settings.ANTHROPIC_BASE_URL = ""
    assert b"Anthropic API" in client.get(f"/a/agency-a/agents/{agent.public_id}/").content
    assert b"sk-ant-real" not in client.get(f"/a/agency-a/agents/{agent.public_id}/").content


def test_the_agent_list_query_count_does_not_grow(client, bob, client_a):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(bob)
    make_run(make_agent(client_a, name="one"))
    client.get("/a/agency-a/agents/")
    with CaptureQueriesContext(connection) as few:
        client.get("/a/agency-a/agents/")
    for n in range(8):
        make_run(make_agent(client_a, name=f"agent {n}"))
    with CaptureQueriesContext(connection) as many:
        client.get("/a/agency-a/agents/")

    assert len(many) == len(few)


def test_costs_are_summed_by_month_on_agent_and_client_pages(client, bob, client_a):
    from datetime import timedelta

    from django.utils import timezone

    agent = make_agent(client_a)
    other = make_agent(client_a, name="Competitor watch")
    now = timezone.now()
    make_run(agent, cost_usd=Decimal("0.1000"), queued_at=now)
    make_run(other, cost_usd=Decimal("0.0250"), queued_at=now)
    make_run(agent, cost_usd=Decimal("9"), queued_at=now - timedelta(days=400))  # out of range
    # Grading and dreams are the client's costs too.
    make_run(agent, cost_usd=Decimal("0.0500"), grader_cost_usd=Decimal("0.0100"), queued_at=now)
    Dream.objects.create(
        agency=agent.agency, agent=agent, trigger="manual", cost_usd=Decimal("0.0040")
    )
    client.force_login(bob)

    agent_page = client.get(f"/a/agency-a/agents/{agent.public_id}/").content.decode()
    client_page = client.get(f"/a/agency-a/clients/{client_a.public_id}/").content.decode()
    listing = client.get("/a/agency-a/agents/").content.decode()

    this_month = now.strftime("%B %Y")
    row = '<td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num" title'
    assert row.format(this_month, 2, 1) in agent_page
    assert "$0.1640</td>" in agent_page  # 0.10 + 0.05 + 0.01 grading + 0.004 dream
    assert row.format(this_month, 3, 1) in client_page
    assert "$0.1890</td>" in client_page
    assert "$9.0000" not in client_page
    assert "$0.16" in listing  # runs and their grading
    assert "$0.03" in listing


def test_the_agent_list_shows_each_schedule_and_its_next_run(client, bob, client_a):
    make_agent(client_a, name="Nightly", schedule="30 2 * * *")
    make_agent(client_a, name="Paused one", schedule="0 9 * * 1", enabled=False)
    make_agent(client_a, name="By hand")
    client.force_login(bob)

    listing = client.get("/a/agency-a/agents/").content.decode()

    assert "At 02:30 (Europe/London)" in listing
    assert "02:30 GMT" in listing
    assert "At 09:00, only on Monday (Europe/London)" in listing
    assert listing.count("Next: ") == 1  # not for the paused one
    assert "Run by hand" in listing
