"""Quality alerts: rules open one incident, notify, resolve; with a frozen clock."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail

from agents import alerts, services
from agents.models import Agent, Alert, AlertChannel, AlertRule, Run
from agents.webhooks import signature_for
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
RUBRIC = """\
floor: 7.5
criteria:
  - {key: all, description: Everything., kind: soft, weight: 1}
"""


@pytest.fixture
def receiver():
    """A local HTTP endpoint that records what is POSTed to it (the channel's far end)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.headers, body))  # case-insensitive lookups
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def graded(agent, score, when, status=Run.Status.SUCCEEDED):
    version = agent.rubric_versions.order_by("-number").first()
    return make_run(
        agent, status=status, score=score, rubric_version=version, finished_at=when, queued_at=when
    )


def rule(agency, kind, *channels, **fields):
    created = AlertRule.objects.create(agency=agency, kind=kind, **fields)
    created.channels.set(channels)
    return created


def test_a_low_average_opens_one_incident_notifies_and_resolves(agency_a, client_a, receiver):
    url, received = receiver
    agent = make_agent(client_a)
    services.save_rubric(agent, RUBRIC, None)
    slack = alerts.create_channel(agency_a, "Slack", AlertChannel.Kind.SLACK, url)
    hook = alerts.create_channel(agency_a, "Ops hook", AlertChannel.Kind.WEBHOOK, url)
    email = alerts.create_channel(agency_a, "Ops mail", AlertChannel.Kind.EMAIL, "ops@a.test")
    rule(agency_a, AlertRule.Kind.BELOW_FLOOR, slack, hook, email)
    for days, score in ((1, 6.0), (2, 7.0), (3, 8.0)):
        graded(agent, score, NOW - timedelta(days=days))

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)
        assert alerts.evaluate_alerts() == (0, 0)  # still low: no second alert

    alert = Alert.objects.get()
    assert alert.message == (
        "SEO audit: the 7-day average grade is 7.0, below the floor of 7.5 (3 graded runs)."
    )
    # Channels in name order.
    assert [(d["channel"], d["event"], d["ok"]) for d in alert.deliveries] == [
        ("Ops hook", "opened", True),
        ("Ops mail", "opened", True),
        ("Slack", "opened", True),
    ]
    (hook_headers, hook_body), (_, slack_body) = received
    assert json.loads(slack_body) == {"text": f"[AgencyOps] Alert: {alert.message}"}
    payload = json.loads(hook_body)
    assert payload["event"] == "alert.opened"
    assert payload["alert"]["agent"] == str(agent.public_id)
    expected = signature_for(hook.secret, hook_headers["X-AgencyOps-Timestamp"], hook_body)
    assert hook_headers["X-AgencyOps-Signature"] == expected
    assert mail.outbox[0].to == ["ops@a.test"]
    assert alert.message in mail.outbox[0].body

    graded(agent, 10.0, NOW + timedelta(hours=1))
    graded(agent, 10.0, NOW + timedelta(hours=2))
    with time_machine.travel(NOW + timedelta(hours=3), tick=False):
        assert alerts.evaluate_alerts() == (0, 1)
        assert alerts.evaluate_alerts() == (0, 0)

    alert.refresh_from_db()
    assert alert.resolved_at == NOW + timedelta(hours=3)
    assert [d["event"] for d in alert.deliveries] == ["opened"] * 3 + ["resolved"] * 3
    assert json.loads(received[2][1])["event"] == "alert.resolved"
    assert json.loads(received[3][1]) == {"text": f"[AgencyOps] Resolved: {alert.message}"}


def test_consecutive_failures_fire_once_and_can_pause_the_agent(agency_a, client_a):
    agent = make_agent(client_a, schedule="0 2 * * *")
    rule(agency_a, AlertRule.Kind.CONSECUTIVE_FAILURES, threshold=3, pause_agent=True)
    graded(agent, 9.0, NOW - timedelta(days=4))
    for days in (3, 2):
        graded(agent, 5.0, NOW - timedelta(days=days), status=Run.Status.FAILED_GRADE)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (0, 0)  # two in a row, not three
        make_run(agent, status=Run.Status.FAILED, finished_at=NOW - timedelta(hours=1))
        assert alerts.evaluate_alerts() == (1, 0)

    agent.refresh_from_db()
    assert not agent.enabled
    assert "The agent was paused" in Alert.objects.get().message
    assert "the last 3 runs all failed (failed, failed grade)" in Alert.objects.get().message


def test_the_dead_man_check_fires_when_nothing_succeeded_by_fire_time_plus_grace(
    agency_a, client_a
):
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        agent = make_agent(client_a, schedule="0 2 * * *", timezone="UTC")
    rule(agency_a, AlertRule.Kind.DEAD_MAN, threshold=30)
    graded(agent, 9.0, NOW - timedelta(days=1))  # yesterday's run succeeded

    with time_machine.travel(NOW.replace(hour=2, minute=20), tick=False):
        assert alerts.evaluate_alerts() == (0, 0)  # still within the grace
    with time_machine.travel(NOW, tick=False):  # 03:00: 02:00 + 30 min passed, no success
        assert alerts.evaluate_alerts() == (1, 0)
    assert "nothing succeeded since the fire at" in Alert.objects.get().message

    graded(agent, 9.0, NOW + timedelta(minutes=5))
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        assert alerts.evaluate_alerts() == (0, 1)


def test_run_errors_open_and_a_later_success_resolves(agency_a, client_a):
    agent = make_agent(client_a)
    other = make_agent(client_a, name="Other")
    rule(agency_a, AlertRule.Kind.RUN_ERRORS, agent=agent)
    make_run(agent, status=Run.Status.TIMED_OUT, error="Too slow.", finished_at=NOW)
    make_run(other, status=Run.Status.FAILED, error="Broken.", finished_at=NOW)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)  # the rule names one agent only
    assert Alert.objects.get().message == "SEO audit: its last run ended timed out: Too slow."
    make_run(agent, status=Run.Status.SUCCEEDED, finished_at=NOW + timedelta(minutes=1))
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        assert alerts.evaluate_alerts() == (0, 1)


def test_a_channel_that_is_down_is_recorded_and_does_not_stop_the_alert(agency_a, client_a):
    agent = make_agent(client_a)
    down = alerts.create_channel(agency_a, "Down", AlertChannel.Kind.SLACK, "http://127.0.0.1:9/x")
    rule(agency_a, AlertRule.Kind.RUN_ERRORS, down)
    make_run(agent, status=Run.Status.FAILED, error="x", finished_at=NOW)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    (delivery,) = Alert.objects.get().deliveries
    assert delivery["ok"] is False
    assert "URLError" in delivery["detail"] or "ConnectionRefused" in delivery["detail"]


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        ("email", "not-an-address", "Enter a valid email address."),
        ("slack", "file:///etc/passwd", "Enter an http:// or https:// URL."),
        ("webhook", "javascript:alert(1)", "Enter an http:// or https:// URL."),
    ],
)
def test_bad_channels_are_refused_with_a_message(client, ada, kind, target, message):
    client.force_login(ada)

    response = client.post(
        "/a/agency-a/alerts/channels/", {"name": "X", "kind": kind, "target": target}
    )

    assert response.status_code == 400
    assert message.encode() in response.content
    assert not AlertChannel.objects.exists()


def test_the_alerts_page_shows_history_and_a_webhook_secret_once(client, ada, carol, client_a):
    agent = make_agent(client_a)
    rule_row = rule(client_a.agency, AlertRule.Kind.RUN_ERRORS)
    Alert.objects.create(agency=client_a.agency, rule=rule_row, agent=agent, message="It broke.")
    client.force_login(ada)

    created = client.post(
        "/a/agency-a/alerts/channels/",
        {"name": "Hook", "kind": "webhook", "target": "https://ops.example.test/in"},
    )
    secret = AlertChannel.objects.get().secret
    again = client.get("/a/agency-a/alerts/")

    assert secret.encode() in created.content
    assert created["Cache-Control"] == "no-store"
    assert secret.encode() not in again.content
    assert b"It broke." in again.content
    assert b"1 open." in again.content
    client.force_login(carol)
    assert client.post(f"/a/agency-b/alerts/rules/{rule_row.public_id}/delete/").status_code == 404
    assert AlertRule.objects.filter(pk=rule_row.pk).exists()
    assert Agent.objects.filter(pk=agent.pk).exists()
