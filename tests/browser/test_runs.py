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
