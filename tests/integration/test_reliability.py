"""Reliability with real processes: worker and beat run as `celery` subprocesses on
real Redis and PostgreSQL, the worker on the threads pool with the connection pool,
as in production (README, "Running at scale").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from agents import services
from agents.models import Run, RunEvent
from agents.simulator import Simulator, SimulatorConfig, Turn
from tests.conftest import purge_queues
from tests.factories import make_agent

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class CeleryProcess:
    """A `celery` subprocess whose output is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "agencyops", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} from celery:\n{''.join(self.lines[-40:])}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def celery(settings, tmp_path):
    """Start celery subprocesses (`celery(["worker", ...])`) pointed at this test's database."""
    started: list[CeleryProcess] = []
    purge_queues()

    def start(args: list[str]) -> CeleryProcess:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "DATABASE_POOL_MAX_SIZE": "4",
            "SIMULATOR_URL": settings.SIMULATOR_URL,
            "ANTHROPIC_BASE_URL": settings.ANTHROPIC_BASE_URL,
            "ANTHROPIC_API_KEY": "",
            "SANDBOX_DIR": str(settings.SANDBOX_DIR),
            "PYTHONUNBUFFERED": "1",
        }
        process = CeleryProcess(args, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    purge_queues()


def worker_args(concurrency: int = 8) -> list[str]:
    return [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--queues=runs,schedule,celery",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
    ]


@contextmanager
def simulated_model(settings, **config):
    with Simulator(SimulatorConfig(seed=5, retry_after=0.01, **config)) as sim:
        settings.SIMULATOR_URL = sim.url
        settings.ANTHROPIC_BASE_URL = sim.url
        settings.ANTHROPIC_API_KEY = ""
        yield sim


def wait_until(check, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_whose_worker_is_killed_is_finished_once_with_its_cost_counted_once(
    settings, celery, client_a
):
    with simulated_model(settings, latency=0.6) as sim:
        sim.add_script(
            "long",
            [Turn(text=f"Step {n}.", tool_uses=({"name": "note", "input": {}},)) for n in range(4)]
            + [Turn(text="# Done\nAll steps ran.")],
        )
        agent = make_agent(client_a, instructions="Work in steps. [sim:script=long]")
        first = celery(worker_args())
        first.wait_for("ready.")
        run = services.trigger_run(agent, None)

        # Mid-run: two model calls answered, more to come.
        wait_until(
            lambda: RunEvent.objects.filter(run=run, type="model.response").count() >= 2,
            what="the run to get going",
        )
        first.kill()
        run.refresh_from_db()
        assert run.status == Run.Status.RUNNING
        assert run.attempt == 1

        second = celery(worker_args())
        second.wait_for("ready.")
        # The sweeper's next pass, once the heartbeat is old enough.
        later = timezone.now() + timedelta(seconds=settings.RUN_HEARTBEAT_TIMEOUT_SECONDS + 1)
        assert services.sweep_stuck_runs(later) == (0, 1)
        wait_until(lambda: Run.objects.get(pk=run.pk).is_finished, what="the run to finish")

    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED
    assert run.attempt == 2
    assert run.output == "# Done\nAll steps ran."
    events = list(RunEvent.objects.filter(run=run).order_by("seq"))
    # Each attempt numbers its own events: 1, 2, ... then 10001, 10002, ...
    seqs = [e.seq for e in events]
    first = [q for q in seqs if q < services.SEQ_PER_ATTEMPT]
    second = [q - services.SEQ_PER_ATTEMPT for q in seqs if q > services.SEQ_PER_ATTEMPT]
    assert first == list(range(1, len(first) + 1))
    assert second == list(range(1, len(second) + 1))
    assert [e.type for e in events].count("run.started") == 2
    assert [e.type for e in events].count("run.finished") == 1
    # Every model call recorded, from both attempts, counted once; runtime on top.
    assert run.model_cost_usd == sum(e.cost_usd for e in events)
    assert run.output_tokens == sum(e.output_tokens for e in events)
    finished = (run.status, run.finished_at, run.cost_usd)
    # The killed worker's message, redelivered, and a later sweep change nothing.
    assert services.execute_run(run.pk) is True
    services.sweep_stuck_runs(later)
    run.refresh_from_db()
    assert (run.status, run.finished_at, run.cost_usd) == finished


def test_fifty_runs_through_30_percent_transient_errors_all_end_cleanly(settings, celery, client_a):
    with simulated_model(settings, error_rates={429: 0.1, 529: 0.1, 500: 0.1}) as sim:
        sim.add_script(
            "flaky",
            [
                Turn(text="Looking.", tool_uses=({"name": "note", "input": {}},)),
                Turn(text="# Report\nDone."),
            ],
        )
        agent = make_agent(
            client_a,
            instructions="Audit. [sim:script=flaky]",
            retry_attempts=4,
            retry_backoff_seconds="0.05",
        )
        celery(worker_args(concurrency=25)).wait_for("ready.")
        runs = [services.trigger_run(agent, None) for _ in range(50)]

        wait_until(
            lambda: all(r.is_finished for r in Run.objects.filter(pk__in=[r.pk for r in runs])),
            timeout=120,
            what="all 50 runs to end",
        )

    runs = list(Run.objects.filter(pk__in=[r.pk for r in runs]))
    statuses = Counter(r.status for r in runs)
    assert set(statuses) <= {Run.Status.SUCCEEDED, Run.Status.FAILED}, statuses
    assert statuses[Run.Status.SUCCEEDED] >= 40, statuses
    for run in runs:
        if run.status == Run.Status.FAILED:
            assert "after 4 attempts" in run.error, run.error
    retries = RunEvent.objects.filter(run__in=runs, type="model.retry").count()
    # About 100 calls, each failing 30% of the time: the errors really were injected.
    assert retries > 15


def test_two_beats_fire_one_run_per_slot(settings, celery, client_a, tmp_path):
    with simulated_model(settings):
        agent = make_agent(client_a, schedule="* * * * *", instructions="Quick check.")
        celery(worker_args()).wait_for("ready.")
        beats = [
            celery(["beat", "--max-interval=1", f"--schedule={tmp_path}/beat{n}", "-l", "INFO"])
            for n in (1, 2)
        ]
        # Both beats send a fire for the next minute.
        for beat in beats:
            beat.wait_for(f"Sending due task agent:{agent.public_id}", timeout=90)
        runs = wait_until(
            lambda: list(Run.objects.filter(agent=agent, scheduled_for__isnull=False)),
            what="the fire to be handled",
        )
        time.sleep(3)  # time for the second fire to be handled too

    slots = Counter(r.scheduled_for for r in Run.objects.filter(agent=agent))
    assert runs
    assert all(count == 1 for count in slots.values()), slots
