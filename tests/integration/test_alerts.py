"""Quality alerts: rules open one incident, notify, resolve; with a frozen clock."""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.core import mail
from django.db import connection

from agencyops import outbound
from agents import alerts, services
from agents.models import Agent, Alert, AlertChannel, AlertRule, Run
from agents.webhooks import signature_for
from tests.factories import ClientFactory, make_agent, make_run
from tests.outbound_fakes import FakeDNS, Receiver

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
RUBRIC = """\
floor: 7.5
criteria:
  - {key: all, description: Everything., kind: soft, weight: 1}
"""


NOT_PUBLIC = b"This address is not public or could not be resolved."


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


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """Names resolve from this table only: no test here asks a real DNS server."""
    fake = FakeDNS(monkeypatch)
    fake.names.update(
        {
            "ops.example.test": ["93.184.215.14"],
            "intranet.example.test": ["10.0.0.7"],
            "localhost": ["127.0.0.1"],
        }
    )
    yield fake
    fake.close()


@pytest.fixture
def local_receivers_allowed(settings):
    """Deliveries in these tests go to a server on 127.0.0.1, so private destinations
    are allowed, as a self-hosted operator would."""
    settings.OUTBOUND_ALLOW_PRIVATE = True


def graded(agent, score, when, status=Run.Status.SUCCEEDED):
    version = agent.rubric_versions.order_by("-number").first()
    return make_run(
        agent, status=status, score=score, rubric_version=version, finished_at=when, queued_at=when
    )


def rule(agency, kind, *channels, **fields):
    created = AlertRule.objects.create(agency=agency, kind=kind, **fields)
    created.channels.set(channels)
    return created


def test_a_low_average_opens_one_incident_notifies_and_resolves(
    agency_a, client_a, receiver, local_receivers_allowed
):
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
    assert [(d["channel"], d["event"], d["ok"], d["detail"]) for d in alert.deliveries] == [
        ("Ops hook", "opened", True, "Delivered"),
        ("Ops mail", "opened", True, "Delivered"),
        ("Slack", "opened", True, "Delivered"),
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


def test_a_channel_that_is_down_is_recorded_coarsely_and_does_not_stop_the_alert(
    agency_a, client_a, receiver, local_receivers_allowed, caplog
):
    url, received = receiver
    agent = make_agent(client_a)
    down = alerts.create_channel(agency_a, "Down", AlertChannel.Kind.SLACK, "http://127.0.0.1:9/x")
    up = alerts.create_channel(agency_a, "Up", AlertChannel.Kind.SLACK, url)
    rule(agency_a, AlertRule.Kind.RUN_ERRORS, down, up)
    make_run(agent, status=Run.Status.FAILED, error="x", finished_at=NOW)

    with (
        caplog.at_level(logging.WARNING, logger="agents.alerts"),
        time_machine.travel(NOW, tick=False),
    ):
        assert alerts.evaluate_alerts() == (1, 0)

    down_delivery, up_delivery = Alert.objects.get().deliveries
    # "Failed" only: "refused the connection" would tell a closed port from an open one.
    assert (down_delivery["ok"], down_delivery["detail"]) == (False, "Failed")
    assert (up_delivery["ok"], up_delivery["detail"]) == (True, "Delivered")
    assert len(received) == 1
    # How it failed is in the server log, for the operator.
    assert "the destination refused the connection" in caplog.text


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


def test_the_alerts_page_shows_history_and_a_webhook_secret_once(client, ada, carol, client_a, dns):
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


# ------------------------------------------------------------------ outbound guard


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/",
        "http://0.0.0.0:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://[::ffff:127.0.0.1]/",
        "http://0177.0.0.1/",
        "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated 169.254.169.254
        "http://intranet.example.test/hook",  # a name that resolves to a private address
        "http://nowhere.example.test/hook",  # one that does not resolve: the same message
    ],
)
@pytest.mark.parametrize("kind", ["slack", "webhook"])
def test_channels_to_non_public_addresses_are_refused_when_saved(client, alice, kind, target):
    client.force_login(alice)

    response = client.post(
        "/a/agency-a/alerts/channels/", {"name": "X", "kind": kind, "target": target}
    )

    assert response.status_code == 400
    assert NOT_PUBLIC in response.content
    assert b"could not be found" not in response.content
    assert not AlertChannel.objects.exists()


def test_a_channel_whose_dns_never_answers_is_refused_within_seconds(
    client, alice, dns, monkeypatch
):
    monkeypatch.setattr(outbound, "RESOLVE_TIMEOUT", 0.5)
    dns.hanging.add("slow.example.test")
    client.force_login(alice)
    started = time.monotonic()

    response = client.post(
        "/a/agency-a/alerts/channels/",
        {"name": "X", "kind": "slack", "target": "https://slow.example.test/hook"},
    )

    assert time.monotonic() - started < 2.5  # not the resolver's 10-30 s
    assert response.status_code == 400
    assert NOT_PUBLIC in response.content
    assert not AlertChannel.objects.exists()


def test_the_operator_setting_allows_private_channels_but_not_link_local(client, alice, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    client.force_login(alice)

    saved = client.post(
        "/a/agency-a/alerts/channels/",
        {"name": "Relay", "kind": "slack", "target": "http://intranet.example.test/hook"},
    )
    metadata = client.post(
        "/a/agency-a/alerts/channels/",
        {"name": "Meta", "kind": "slack", "target": "http://169.254.169.254/latest/"},
    )

    assert saved.status_code == 200
    assert metadata.status_code == 400
    assert NOT_PUBLIC in metadata.content
    assert list(AlertChannel.objects.values_list("name", flat=True)) == ["Relay"]


def _failing_run_with(agency, client_row, *channels):
    agent = make_agent(client_row)
    rule(agency, AlertRule.Kind.RUN_ERRORS, *channels)
    make_run(agent, status=Run.Status.FAILED, error="x", finished_at=NOW)


def test_a_saved_loopback_channel_is_refused_at_delivery_without_connecting(
    agency_a, client_a, receiver
):
    url, received = receiver
    # Saved before the check existed, or through the database: delivery checks again.
    loopback = AlertChannel.objects.create(
        agency=agency_a, name="Old", kind=AlertChannel.Kind.WEBHOOK, target=url, secret="s" * 64
    )
    _failing_run_with(agency_a, client_a, loopback)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    (delivery,) = Alert.objects.get().deliveries
    assert (delivery["ok"], delivery["detail"]) == (False, "Refused: not a public address")
    assert received == []


def test_a_name_that_resolves_to_loopback_by_delivery_time_is_refused(
    agency_a, client_a, receiver, dns
):
    url, received = receiver
    port = url.split(":")[2].split("/")[0]
    dns.names["rebind.example.test"] = ["93.184.215.14"]
    channel = alerts.create_channel(
        agency_a, "Rebind", AlertChannel.Kind.SLACK, f"http://rebind.example.test:{port}/hook"
    )
    dns.names["rebind.example.test"] = ["127.0.0.1"]  # the name moved after it was saved
    _failing_run_with(agency_a, client_a, channel)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    (delivery,) = Alert.objects.get().deliveries
    assert (delivery["ok"], delivery["detail"]) == (False, "Refused: not a public address")
    assert received == []


def test_a_delivery_to_a_name_whose_dns_never_answers_is_refused_in_time(
    agency_a, client_a, dns, monkeypatch
):
    monkeypatch.setattr(alerts, "DELIVERY_TIMEOUT", 1)
    dns.hanging.update({"slow.example.test", "slower.example.test"})
    for name in ("slow", "slower"):  # saved before the name stopped answering
        AlertChannel.objects.create(
            agency=agency_a,
            name=name,
            kind=AlertChannel.Kind.SLACK,
            target=f"http://{name}.example.test/",
        )
    _failing_run_with(agency_a, client_a, *AlertChannel.objects.all())
    started = time.monotonic()

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    assert time.monotonic() - started < 4  # about a second each, not the resolver's 10-30 s
    assert [(d["ok"], d["detail"]) for d in Alert.objects.get().deliveries] == [
        (False, "Refused: not a public address")
    ] * 2


def test_a_redirect_fails_the_delivery_and_is_never_followed(
    agency_a, client_a, local_receivers_allowed
):
    server = Receiver(
        answer=lambda path: (302, {"Location": f"http://127.0.0.1:{server.port}/inside"}, b"")
    )
    try:
        channel = alerts.create_channel(agency_a, "Hook", AlertChannel.Kind.SLACK, server.url())
        _failing_run_with(agency_a, client_a, channel)
        with time_machine.travel(NOW, tick=False):
            assert alerts.evaluate_alerts() == (1, 0)
    finally:
        server.close()

    (delivery,) = Alert.objects.get().deliveries
    assert (delivery["ok"], delivery["detail"]) == (False, "Failed")
    assert [r.path for r in server.requests] == ["/hook"]  # /inside never asked for


def test_the_page_shows_a_failed_delivery_coarsely(client, alice, agency_a, client_a, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    server = Receiver(answer=lambda path: (500, {}, b"Traceback: db password hunter2"))
    try:
        channel = alerts.create_channel(agency_a, "Hook", AlertChannel.Kind.SLACK, server.url())
        _failing_run_with(agency_a, client_a, channel)
        with time_machine.travel(NOW, tick=False):
            alerts.evaluate_alerts()
    finally:
        server.close()
    # A row recorded by an earlier release, with a finer result: shown as "Failed" too.
    older = Alert.objects.get()
    older.pk = None
    older.resolved_at = NOW
    older.deliveries = [
        {
            "channel": "Old",
            "event": "opened",
            "ok": False,
            "detail": "Failed: the destination refused the connection.",
        }
    ]
    older.save()
    client.force_login(alice)

    page = client.get("/a/agency-a/alerts/").content.decode()

    assert page.count('>Hook · opened<span class="visually-hidden">: Failed</span>') == 1
    assert page.count('>Old · opened<span class="visually-hidden">: Failed</span>') == 1
    for finer in ("5xx", "HTTP 500", "refused the connection", "hunter2", "Traceback"):
        assert finer not in page


# ------------------------------------------------------------------ isolation


def _overdue_dead_man_agent(client_row, name):
    with time_machine.travel(NOW - timedelta(days=2), tick=False):
        return make_agent(client_row, name=name, schedule="0 2 * * *", timezone="UTC")


def test_one_agencys_broken_rule_does_not_stop_other_agencies_alerts(
    client, alice, agency_a, agency_b, client_a, caplog
):
    broken = _overdue_dead_man_agent(client_a, "Never fires")
    # A cron that names no date, saved past the form as an older release allowed.
    Agent.objects.filter(pk=broken.pk).update(schedule="0 0 31 2 *")
    broken_rule = rule(agency_a, AlertRule.Kind.DEAD_MAN, threshold=30)
    client_b = ClientFactory(agency=agency_b, name="Bee Co")
    failing = make_agent(client_b, name="B's agent")
    make_run(failing, status=Run.Status.FAILED, error="x", finished_at=NOW)
    rule(agency_b, AlertRule.Kind.RUN_ERRORS)  # evaluated after A's dead-man rule

    with (
        caplog.at_level(logging.ERROR, logger="agents.alerts"),
        time_machine.travel(NOW, tick=False),
    ):
        assert alerts.evaluate_alerts() == (1, 0)

    assert Alert.objects.get().agent == failing
    broken_rule.refresh_from_db()
    assert broken_rule.last_error.startswith("Could not check Never fires: ")
    assert "never fires" in broken_rule.last_error
    assert broken_rule.last_error_at == NOW
    assert any(r.exc_info for r in caplog.records)  # logged with its traceback
    client.force_login(alice)
    page = client.get("/a/agency-a/alerts/").content.decode()
    assert "Not fully checked" in page
    assert "Could not check Never fires:" in page

    # The same error a minute later keeps its start; a clean evaluation clears it.
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        alerts.evaluate_alerts()
    broken_rule.refresh_from_db()
    assert broken_rule.last_error_at == NOW
    Agent.objects.filter(pk=broken.pk).update(schedule="0 2 * * *")
    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        alerts.evaluate_alerts()
    broken_rule.refresh_from_db()
    assert (broken_rule.last_error, broken_rule.last_error_at) == ("", None)


def test_one_agents_error_leaves_the_rules_other_agents_checked(agency_a, client_a):
    broken = _overdue_dead_man_agent(client_a, "Never fires")
    healthy = _overdue_dead_man_agent(client_a, "Overdue")
    Agent.objects.filter(pk=broken.pk).update(schedule="0 0 31 2 *")
    dead_man = rule(agency_a, AlertRule.Kind.DEAD_MAN, threshold=30)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    assert Alert.objects.get().agent == healthy
    dead_man.refresh_from_db()
    assert "Never fires" in dead_man.last_error
    assert "Overdue" not in dead_man.last_error


def test_a_failed_query_in_one_rule_does_not_poison_the_next(
    agency_a, agency_b, client_a, monkeypatch
):
    def broken_condition(agents, rule_row, now):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # aborts the transaction it runs in

    monkeypatch.setitem(alerts.CONDITIONS, AlertRule.Kind.BELOW_FLOOR, broken_condition)
    first = rule(agency_b, AlertRule.Kind.BELOW_FLOOR)  # "below_floor" sorts first
    agent = make_agent(client_a)
    make_run(agent, status=Run.Status.FAILED, error="x", finished_at=NOW)
    rule(agency_a, AlertRule.Kind.RUN_ERRORS)

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    first.refresh_from_db()
    assert first.last_error == (
        "The rule could not be checked: an unexpected error (the details are in the server log)."
    )


@pytest.mark.parametrize("broken_by", ["an agent", "the whole rule"])
def test_a_rule_whose_problems_cannot_be_recorded_does_not_stop_the_next(
    agency_a, agency_b, client_a, caplog, monkeypatch, broken_by
):
    if broken_by == "an agent":
        broken = _overdue_dead_man_agent(client_a, "Never fires")
        Agent.objects.filter(pk=broken.pk).update(schedule="0 0 31 2 *")
    else:
        monkeypatch.setitem(alerts.CONDITIONS, AlertRule.Kind.DEAD_MAN, _raise)
    first = rule(agency_a, AlertRule.Kind.DEAD_MAN, threshold=30)  # "dead_man" sorts first
    client_b = ClientFactory(agency=agency_b, name="Bee Co")
    failing = make_agent(client_b, name="B's agent")
    make_run(failing, status=Run.Status.FAILED, error="x", finished_at=NOW)
    rule(agency_b, AlertRule.Kind.RUN_ERRORS)
    table = AlertRule._meta.db_table
    with connection.cursor() as cursor:  # the database refuses the first rule's write
        cursor.execute(
            "CREATE FUNCTION refuse_rule_error() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'rule % is read-only', NEW.id; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER refuse_rule_error BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN (NEW.id = {first.pk}) EXECUTE FUNCTION refuse_rule_error()"
        )

    with (
        caplog.at_level(logging.ERROR, logger="agents.alerts"),
        time_machine.travel(NOW, tick=False),
    ):
        assert alerts.evaluate_alerts() == (1, 0)  # the next rule was still evaluated

    assert Alert.objects.get().agent == failing
    first.refresh_from_db()
    assert first.last_error == ""  # not written, and nothing half-written
    (record,) = [r for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert record.exc_info is not None
    assert "is read-only" in str(record.exc_info[1])


def _raise(agents, rule_row, now):
    raise RuntimeError("broken")


def test_the_migration_drops_the_raw_error_text_of_old_deliveries(agency_a, client_a):
    from django.apps import apps

    migration = importlib.import_module("agents.migrations.0010_alert_rule_errors")
    agent = make_agent(client_a)
    old = Alert.objects.create(
        agency=agency_a,
        rule=rule(agency_a, AlertRule.Kind.RUN_ERRORS),
        agent=agent,
        message="It broke.",
        deliveries=[
            {"channel": "A", "event": "opened", "ok": False, "detail": "URLError: [Errno 111]"},
            {"channel": "B", "event": "opened", "ok": True, "detail": "HTTP 200"},
        ],
    )

    migration.hide_delivery_details(apps, None)

    old.refresh_from_db()
    assert [(d["channel"], d["detail"]) for d in old.deliveries] == [
        ("A", "Failed"),
        ("B", "Delivered"),
    ]


def test_a_webhook_urls_path_is_never_shown_after_it_is_saved(client, ada, agency_a):
    # A Slack incoming-webhook URL's path is its credential.
    url = "https://ops.example.test/services/T0001/B0001/tokenTOKENtoken"
    alerts.create_channel(agency_a, "Ops Slack", AlertChannel.Kind.SLACK, url)
    client.force_login(ada)

    page = client.get("/a/agency-a/alerts/").content.decode()

    assert "ops.example.test (URL hidden)" in page
    assert "tokenTOKENtoken" not in page
    assert "/services/" not in page


def test_pausing_through_an_alert_publishes_a_version_and_turns_the_schedule_off(
    agency_a, client_a
):
    from django_celery_beat.models import PeriodicTask

    agent = make_agent(client_a, schedule="0 2 * * *")
    # Settings today's form would refuse: the pause must not validate them again.
    Agent.objects.filter(pk=agent.pk).update(budget_usd=0)
    rule(agency_a, AlertRule.Kind.CONSECUTIVE_FAILURES, threshold=1, pause_agent=True)
    make_run(agent, status=Run.Status.FAILED, finished_at=NOW - timedelta(hours=1))

    with time_machine.travel(NOW, tick=False):
        assert alerts.evaluate_alerts() == (1, 0)

    agent.refresh_from_db()
    latest = agent.versions.order_by("-number").first()
    assert (agent.enabled, latest.number, latest.definition) == (
        False,
        2,
        services.definition_of(agent),
    )
    assert not PeriodicTask.objects.get(name=f"agent:{agent.public_id}").enabled
    assert services.pause_agent(agent, None) is False  # already paused: no third version


def test_rules_and_channels_are_added_and_removed_through_the_pages(client, ada, agency_a):
    inbox = alerts.create_channel(agency_a, "Inbox", AlertChannel.Kind.EMAIL, "ops@a.test")
    client.force_login(ada)

    added = client.post(
        "/a/agency-a/alerts/rules/",
        {"kind": "run_errors", "threshold": 3, "channels": [inbox.pk], "enabled": "on"},
    )
    assert added.status_code == 302
    created = AlertRule.objects.get()
    assert (created.agency, list(created.channels.all())) == (agency_a, [inbox])

    client.post(f"/a/agency-a/alerts/rules/{created.public_id}/delete/")
    client.post(f"/a/agency-a/alerts/channels/{inbox.public_id}/delete/")
    assert not AlertRule.objects.exists()
    assert not AlertChannel.objects.exists()
