"""The rubric editor in a real browser: an error is pointed at, fixed, saved, charted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from agents import services
from agents.models import RubricVersion, Run
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db(transaction=True)

RUBRIC = """\
floor: 7.5
criteria:
  - key: findings
    description: One finding per audited dimension.
    kind: hard
    weight: 0.4
  - key: steps
    description: Steps name specific URLs.
    kind: soft
    weight: 0.6
"""


def graded_history(agent):
    """Publish RUBRIC as version 1 and give the agent three graded days of runs."""
    version = services.save_rubric(agent, RUBRIC, None)
    for days in (3, 2, 1):
        when = timezone.now() - timedelta(days=days)
        make_run(
            agent,
            status=Run.Status.SUCCEEDED,
            score=8.5,
            rubric_version=version,
            finished_at=when,
            queued_at=when,
        )
    return version


def test_edit_a_rubric_with_an_error_fix_it_save_and_see_the_version_on_the_trend(
    live_server, page, login_as, ada, client_a, shoot
):
    agent = make_agent(client_a, name="Nightly SEO audit")
    graded_history(agent)
    login_as(ada)
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    page.get_by_role("link", name="Rubric").click()

    editor = page.get_by_label("Rubric (YAML or JSON)")
    editor.fill(RUBRIC.replace("weight: 0.6", "weight: 0.9"))
    check = page.locator("#rubric-check")
    expect(check).to_contain_text("The weights add up to 1.3; they must add up to 1.")
    editor.fill(RUBRIC.replace("kind: hard", "kind: firm"))
    expect(check).to_contain_text("1 problem")
    expect(check.get_by_role("button", name="Line 5")).to_be_visible()
    expect(check).to_contain_text("criteria[0].kind")
    shoot("rubric-error")
    check.get_by_role("button", name="Line 5").click()  # puts the cursor on the line
    cursor = page.evaluate("document.getElementById('id_source').selectionStart")
    assert cursor == RUBRIC.index("    kind: hard")

    editor.fill(RUBRIC.replace("floor: 7.5", "floor: 8"))
    expect(check).to_contain_text("How a run is scored")
    expect(check).to_contain_text("must average at least 6.67")
    page.get_by_label("Note for this version").fill("Stricter floor")
    page.get_by_role("button", name="Save and publish").click()

    expect(page.get_by_role("status").first).to_contain_text("Rubric version 2 published")
    assert RubricVersion.objects.get(agent=agent, number=2).note == "Stricter floor"
    when = timezone.now()
    make_run(
        agent,
        status=Run.Status.FAILED_GRADE,
        score=7.8,
        rubric_version_id=RubricVersion.objects.get(agent=agent, number=2).pk,
        finished_at=when,
        queued_at=when,
    )
    page.goto(f"{live_server.url}/a/agency-a/agents/{agent.public_id}/")
    chart = page.locator("#quality .chart").first
    expect(chart.locator(".main-svg").first).to_be_visible()
    expect(chart).to_contain_text("rubric v2")
    expect(chart).to_contain_text("floor 8")
    shoot("agent-quality")


def test_an_agent_name_with_markup_shows_as_text_in_the_chart_legend(
    live_server, page, login_as, alice, client_a, shoot
):
    name = '<a href="https://evil.test/">Audit</a>'
    agent = make_agent(client_a, name=name)
    graded_history(agent)
    login_as(alice)
    page.goto(f"{live_server.url}/a/agency-a/clients/{client_a.public_id}/")

    legend = page.locator(".chart .legend").first
    expect(legend).to_contain_text(name)  # the markup, shown as plain text
    assert page.locator(".chart a[href='https://evil.test/']").count() == 0
    shoot("client-trend-escaped-legend")
