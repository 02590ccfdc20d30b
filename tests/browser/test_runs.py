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
