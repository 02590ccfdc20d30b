"""Run now in a real browser: the run page updates live until the run ends."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from agents.simulator import Turn
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_now_shows_the_run_live_until_it_succeeds(
    live_server, page, login_as, bob, client_a, worker, simulator, shoot
):
    simulator.state.config.latency = 0.6  # slow enough to see the run going
    simulator.add_script(
        "audit",
        [
            Turn(text="Looking.", tool_uses=({"name": "list_files", "input": {}},)),
            Turn(text="# Audit for Acme\n\n| page | issue |\n|---|---|\n| / | duplicate title |"),
        ],
    )
    agent = make_agent(client_a, name="Nightly SEO audit", instructions="Audit. [sim:script=audit]")
    login_as(bob)
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    expect(page.get_by_text("Simulated model at")).to_be_visible()

    page.get_by_role("button", name="Run now").click()

    expect(page.get_by_role("heading", name="Run of Nightly SEO audit")).to_be_visible()
    shoot("run-live")
    expect(page.locator("#run-live .stat-value .badge")).to_have_text("Succeeded", timeout=20_000)
    expect(page.get_by_role("heading", name="Audit for Acme")).to_be_visible()
    expect(page.get_by_role("cell", name="duplicate title")).to_be_visible()
    expect(page.get_by_text("tool.call")).to_be_visible()
    shoot("run-finished")


def test_the_schedule_preview_updates_as_you_type(
    live_server, page, login_as, ada, client_a, shoot
):
    from agents.prices import ensure_default_prices

    ensure_default_prices()
    login_as(ada)
    page.goto(f"{live_server.url}/a/agency-a/agents/new/")
    page.get_by_label("Client").select_option(label="Acme Bakery")

    page.get_by_label("Schedule").fill("30 2 * * 1-5")
    expect(page.locator("#schedule-preview")).to_contain_text(
        "At 02:30, Monday through Friday (Europe/London)"
    )
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    shoot("agent-form-schedule")

    page.get_by_label("Schedule").fill("30 2 * *")
    expect(page.locator("#schedule-preview")).to_contain_text("this one has 4")


def test_a_run_leaves_an_artifact_and_shows_its_cost_breakdown(
    live_server, page, login_as, bob, client_a, worker, simulator, shoot
):
    # No script: the generated SEO audit lists files, writes report.md, then answers.
    agent = make_agent(
        client_a,
        name="Nightly SEO audit",
        instructions="Nightly SEO audit of https://acmebakery.test.",
        tools=["list_files", "write_file"],
    )
    login_as(bob)
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    expect(page.get_by_text("List files, Write files (sandboxed)")).to_be_visible()

    page.get_by_role("button", name="Run now").click()

    expect(page.locator("#run-live .stat-value .badge")).to_have_text("Succeeded", timeout=20_000)
    expect(page.get_by_role("link", name="report.md")).to_be_visible()
    expect(page.get_by_role("cell", name="Runtime")).to_be_visible()
    expect(page.get_by_text("at $0.08/hour")).to_be_visible()
    shoot("run-artifacts")
    with page.expect_download() as download:
        page.get_by_role("link", name="report.md").click()
    assert download.value.suggested_filename == "report.md"

    # The run history filters by status without a page load, and keeps the URL.
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    page.get_by_role("link", name="Failed", exact=True).click()
    expect(page.get_by_text("No runs with this status")).to_be_visible()
    assert page.url.endswith("?status=failed")
    page.get_by_role("link", name="Succeeded", exact=True).click()
    expect(page.locator("#run-history tbody tr")).to_have_count(1)
    shoot("agent-run-history")


def test_an_admin_creates_a_webhook_and_sees_the_secret_once(
    live_server, page, login_as, ada, client_a, shoot
):
    agent = make_agent(client_a, name="Competitor watch")
    login_as(ada)
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")

    page.get_by_role("button", name="Create webhook").click()

    secret = page.locator("code.secret")
    expect(secret).to_contain_text("whsec_")
    expect(page.get_by_text("It is shown only this once")).to_be_visible()
    shoot("agent-webhook-created")
    value = secret.inner_text()
    page.reload()
    expect(page.get_by_text("Secret: set (shown only when created)")).to_be_visible()
    assert value not in page.content()
    shoot("agent-webhook")
