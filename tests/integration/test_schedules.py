"""Agent schedules: beat sync, one run per slot, overlap policies, the live preview."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django_celery_beat.models import PeriodicTask

from agents import services
from agents.models import Run
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db

SLOT = datetime(2026, 11, 21, 2, 30, 17, tzinfo=UTC)


def test_saving_a_scheduled_agent_creates_its_beat_task_in_the_clients_zone(client_a):
    agent = make_agent(client_a, schedule="30 2 * * *")

    task = PeriodicTask.objects.get(name=f"agent:{agent.public_id}")
    assert task.task == "agents.tasks.fire_schedule"
    assert json.loads(task.kwargs) == {"agent_id": agent.pk}
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == (
        "30",
        "2",
        "Europe/London",
    )
    assert task.enabled


def test_pausing_and_clearing_the_schedule_disable_the_task(client_a):
    agent = make_agent(client_a, schedule="30 2 * * *")

    agent.enabled = False
    services.save_agent(agent, None)
    assert not PeriodicTask.objects.get(name=f"agent:{agent.public_id}").enabled

    agent.enabled, agent.schedule = True, ""
    services.save_agent(agent, None)
    assert not PeriodicTask.objects.get(name=f"agent:{agent.public_id}").enabled


def test_a_fire_creates_one_run_per_slot(client_a, django_capture_on_commit_callbacks):
    agent = make_agent(client_a, schedule="30 2 * * *")

    with django_capture_on_commit_callbacks() as dispatched:
        first = services.fire_schedule(agent.pk, SLOT)
        again = services.fire_schedule(
            agent.pk, SLOT.replace(second=59)
        )  # same minute: a duplicate

    assert first.status == Run.Status.QUEUED
    assert first.scheduled_for == SLOT.replace(second=0)
    assert again is None
    assert Run.objects.filter(agent=agent).count() == 1
    assert len(dispatched) == 1


def test_skip_policy_records_a_skipped_run_with_the_reason(client_a):
    agent = make_agent(client_a, schedule="30 2 * * *", overlap_policy="skip")
    make_run(agent, status=Run.Status.RUNNING)

    run = services.fire_schedule(agent.pk, SLOT)

    assert run.status == Run.Status.SKIPPED
    assert "still going" in run.error


def test_queue_one_keeps_one_waiting_and_skips_the_next(client_a):
    agent = make_agent(client_a, schedule="* * * * *", overlap_policy="queue_one")
    make_run(agent, status=Run.Status.RUNNING)

    waiting = services.fire_schedule(agent.pk, SLOT)
    skipped = services.fire_schedule(agent.pk, SLOT.replace(minute=31))

    assert waiting.status == Run.Status.QUEUED
    assert skipped.status == Run.Status.SKIPPED
    # The waiting run is not started while the other one runs.
    assert services.execute_run(waiting.pk) is False
    waiting.refresh_from_db()
    assert waiting.status == Run.Status.QUEUED


def test_replace_cancels_the_running_run(client_a):
    agent = make_agent(client_a, schedule="30 2 * * *", overlap_policy="replace")
    old = make_run(agent, status=Run.Status.RUNNING)

    new = services.fire_schedule(agent.pk, SLOT)

    old.refresh_from_db()
    assert old.status == Run.Status.CANCELLED
    assert new.status == Run.Status.QUEUED


def test_a_paused_agent_does_not_fire(client_a):
    agent = make_agent(client_a, schedule="30 2 * * *", enabled=False)

    assert services.fire_schedule(agent.pk, SLOT) is None
    assert not Run.objects.exists()


def test_an_invalid_schedule_is_refused_with_the_field_named(client, ada, client_a):
    from tests.integration.test_agents import agent_data

    client.force_login(ada)

    response = client.post("/a/agency-a/agents/new/", agent_data(client_a, schedule="30 25 * * *"))

    assert "The hour field “25” is not valid.".encode() in response.content
    assert not PeriodicTask.objects.filter(name__startswith="agent:").exists()


def test_the_preview_shows_words_and_next_fires_in_the_clients_zone(client, ada, client_a):
    client.force_login(ada)

    response = client.get(
        "/a/agency-a/agents/schedule-preview/",
        {"schedule": "30 2 * * *", "timezone": "", "client": client_a.pk},
    )

    assert response.content.lstrip().startswith(b'<div id="schedule-preview"')
    assert b"At 02:30 (Europe/London)" in response.content
    assert response.content.count(b"<li>") == 5


def test_the_preview_names_the_broken_field(client, bob):
    client.force_login(bob)

    response = client.get(
        "/a/agency-a/agents/schedule-preview/", {"schedule": "0 0 32 * *", "timezone": "UTC"}
    )

    assert "The day of month field “32” is not valid.".encode() in response.content


def test_fire_times_are_shown_in_the_schedules_own_zone(client, ada, client_a):
    client.force_login(ada)

    response = client.get(
        "/a/agency-a/agents/schedule-preview/",
        {"schedule": "0 9 * * *", "timezone": "Pacific/Auckland"},
    )

    assert b"09:00 NZDT" in response.content


def test_a_late_or_redelivered_fire_maps_to_its_own_slot(client_a):
    agent = make_agent(client_a, schedule="*/10 * * * *")

    first = services.fire_schedule(agent.pk, datetime(2026, 11, 21, 10, 0, 2, tzinfo=UTC))
    late = services.fire_schedule(agent.pk, datetime(2026, 11, 21, 10, 7, 40, tzinfo=UTC))

    assert first.scheduled_for == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert late is None
    assert Run.objects.filter(agent=agent).count() == 1


def test_the_daylight_saving_repeat_of_a_time_runs_once(client_a):
    # Europe/London, 25 Oct 2026: 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT).
    agent = make_agent(client_a, schedule="30 1 * * *")

    first = services.fire_schedule(agent.pk, datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    repeat = services.fire_schedule(agent.pk, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))

    assert first is not None
    assert repeat is None
    assert Run.objects.filter(agent=agent).count() == 1


def test_archiving_the_client_switches_its_schedules_off_and_restoring_on(client_a):
    from clients import services as client_services

    agent = make_agent(client_a, schedule="30 2 * * *")
    task = lambda: PeriodicTask.objects.get(name=f"agent:{agent.public_id}")  # noqa: E731

    client_services.archive_client(client_a)
    assert not task().enabled
    client_services.restore_client(client_a)
    assert task().enabled


def test_a_run_whose_model_left_the_price_table_fails_clearly(client_a):
    from agents.models import ModelPrice

    agent = make_agent(client_a)
    run = make_run(agent)
    ModelPrice.objects.filter(model="claude-sonnet-4-6").update(model="claude-sonnet-retired")

    services.execute_run(run.pk)

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert "no longer in the pricing table" in run.error


def test_changing_the_clients_time_zone_moves_its_schedules(client_a):
    from clients import services as client_services

    agent = make_agent(client_a, schedule="30 2 * * *")

    client_services.update_client(client_a, timezone="Asia/Tokyo")

    task = PeriodicTask.objects.get(name=f"agent:{agent.public_id}")
    assert str(task.crontab.timezone) == "Asia/Tokyo"


def test_a_late_fire_runs_once_under_the_run_once_policy(client_a):
    # Beat was down from 02:00 to 03:10: its catch-up fire maps to the 02:30 slot.
    agent = make_agent(client_a, schedule="30 2 * * *", missed_fire_policy="run_once")

    run = services.fire_schedule(agent.pk, SLOT.replace(hour=3, minute=10))
    again = services.fire_schedule(agent.pk, SLOT.replace(hour=3, minute=11))

    assert run.status == Run.Status.QUEUED
    assert run.scheduled_for == SLOT.replace(second=0)
    assert again is None


def test_a_late_fire_is_recorded_as_skipped_under_the_skip_policy(client_a, settings):
    settings.MISSED_FIRE_GRACE_SECONDS = 300
    agent = make_agent(client_a, schedule="30 2 * * *", missed_fire_policy="skip")

    on_time = services.fire_schedule(agent.pk, SLOT.replace(minute=34))  # within the grace
    late = services.fire_schedule(agent.pk, SLOT.replace(day=22, minute=40))

    assert on_time.status == Run.Status.QUEUED
    assert late.status == Run.Status.SKIPPED
    assert late.error.startswith("Missed: this fire came 10 min late")
    assert "missed-fire policy: skip" in late.error
