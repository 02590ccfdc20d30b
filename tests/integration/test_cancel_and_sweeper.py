"""Cancelling runs, and the sweeper that repairs runs a lost worker or message left."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from agents import services
from agents.models import Run
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.django_db


def test_a_member_cancels_a_queued_run_and_no_worker_starts_it(client, bob, client_a):
    run = make_run(make_agent(client_a))
    client.force_login(bob)

    response = client.post(f"/a/agency-a/runs/{run.public_id}/cancel/", follow=True)

    assert b"Run cancelled" in response.content
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert run.error == "Cancelled by bob@a.test."
    services.execute_run(run.pk)  # a late delivery of the task
    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert not run.events.exists()


def test_cancelling_a_finished_run_says_so(client, bob, client_a):
    run = make_run(make_agent(client_a), status=Run.Status.SUCCEEDED)
    client.force_login(bob)

    response = client.post(f"/a/agency-a/runs/{run.public_id}/cancel/", follow=True)

    assert b"already ended" in response.content
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED


def test_the_sweeper_ends_a_run_whose_worker_died(client_a):
    agent = make_agent(client_a, max_runtime_seconds=60)
    now = timezone.now()
    stuck = make_run(agent, status=Run.Status.RUNNING, started_at=now - timedelta(minutes=7))
    alive = make_run(agent, status=Run.Status.RUNNING, started_at=now - timedelta(minutes=2))

    ended, _ = services.sweep_stuck_runs(now)

    stuck.refresh_from_db()
    alive.refresh_from_db()
    assert ended == 1
    assert stuck.status == Run.Status.TIMED_OUT
    assert "stopped responding" in stuck.error
    assert alive.status == Run.Status.RUNNING


def test_the_sweeper_resends_runs_nobody_claimed(client_a, settings):
    agent = make_agent(client_a)
    now = timezone.now()
    lost = make_run(agent, queued_at=now - timedelta(minutes=30))
    make_run(agent, queued_at=now - timedelta(minutes=1))

    from unittest import mock

    with mock.patch("agents.tasks.execute_run.delay") as delay:
        _, resent = services.sweep_stuck_runs(now)

    assert resent == 1
    delay.assert_called_once_with(lost.pk)


def test_the_sweeper_is_registered_with_beat_by_a_migration():
    from django.core.management import call_command

    call_command("migrate", "agents", "0003", verbosity=0)  # unapply: unregisters
    assert not PeriodicTask.objects.filter(name="agencyops: sweep stuck runs").exists()
    call_command("migrate", "agents", "0004", verbosity=0)

    task = PeriodicTask.objects.get(name="agencyops: sweep stuck runs")
    assert task.task == "agents.tasks.sweep_stuck_runs"
    assert task.crontab.minute == "*/5"


def test_the_sweeper_leaves_runs_waiting_under_queue_one_alone(client_a):
    agent = make_agent(client_a, overlap_policy="queue_one", max_runtime_seconds=3600)
    now = timezone.now()
    make_run(
        agent,
        status=Run.Status.RUNNING,
        started_at=now - timedelta(minutes=20),
        heartbeat_at=now - timedelta(seconds=30),
    )
    make_run(agent, queued_at=now - timedelta(minutes=20))

    from unittest import mock

    with mock.patch("agents.tasks.execute_run.delay") as delay:
        _, resent = services.sweep_stuck_runs(now)

    assert resent == 0
    delay.assert_not_called()


def test_a_silent_run_is_queued_again_and_resent(client_a, settings):
    settings.RUN_HEARTBEAT_TIMEOUT_SECONDS = 120
    agent = make_agent(client_a, max_runtime_seconds=3600)
    now = timezone.now()
    lost = make_run(
        agent,
        status=Run.Status.RUNNING,
        attempt=1,
        started_at=now - timedelta(minutes=10),
        heartbeat_at=now - timedelta(minutes=3),
    )
    alive = make_run(
        agent,
        status=Run.Status.RUNNING,
        attempt=1,
        started_at=now - timedelta(minutes=10),
        heartbeat_at=now - timedelta(minutes=1),
    )

    from unittest import mock

    with mock.patch("agents.tasks.execute_run.delay") as delay:
        ended, resent = services.sweep_stuck_runs(now)

    assert (ended, resent) == (0, 1)
    delay.assert_called_once_with(lost.pk)
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == Run.Status.QUEUED
    assert alive.status == Run.Status.RUNNING


def test_a_run_that_lost_its_worker_too_often_ends_with_its_trace_cost(client_a, settings):
    settings.RUN_HEARTBEAT_TIMEOUT_SECONDS = 120
    agent = make_agent(client_a, max_runtime_seconds=3600)
    now = timezone.now()
    run = make_run(
        agent,
        status=Run.Status.RUNNING,
        attempt=services.MAX_ATTEMPTS,
        started_at=now - timedelta(minutes=30),
        heartbeat_at=now - timedelta(minutes=3),
    )
    for seq, cost in enumerate(("0.0125", "0.0200"), start=1):
        run.events.create(agency=run.agency, seq=seq, type="model.response", cost_usd=cost)

    ended, _ = services.sweep_stuck_runs(now)

    run.refresh_from_db()
    assert ended == 1
    assert run.status == Run.Status.TIMED_OUT
    assert str(run.cost_usd) == "0.032500"


def test_a_silent_run_past_its_deadline_is_ended_not_queued_again(client_a, settings):
    settings.RUN_HEARTBEAT_TIMEOUT_SECONDS = 180
    agent = make_agent(client_a, max_runtime_seconds=600)
    now = timezone.now()
    run = make_run(
        agent,
        status=Run.Status.RUNNING,
        attempt=1,
        started_at=now - timedelta(minutes=11),  # 1 min past its 10 min runtime
        heartbeat_at=now - timedelta(minutes=4),
    )

    ended, resent = services.sweep_stuck_runs(now)

    run.refresh_from_db()
    assert (ended, resent) == (1, 0)
    assert run.status == Run.Status.TIMED_OUT


def test_cancelling_a_run_waiting_for_its_second_attempt_keeps_what_the_first_spent(
    client, bob, client_a
):
    run = make_run(make_agent(client_a), status=Run.Status.QUEUED, attempt=1)
    run.events.create(
        agency=run.agency, seq=1, type="model.response", cost_usd="0.0125", output_tokens=40
    )
    client.force_login(bob)

    client.post(f"/a/agency-a/runs/{run.public_id}/cancel/")

    run.refresh_from_db()
    assert run.status == Run.Status.CANCELLED
    assert (str(run.cost_usd), run.output_tokens) == ("0.012500", 40)
