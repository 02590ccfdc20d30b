"""Celery entry points: thin shells around agents.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from agents import alerts, dreams, services

# A "queue one" run waiting for the agent's running run checks again this often.
WAIT_SECONDS = 15


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None
)
def execute_run(self: Any, run_id: int) -> None:
    """Run a queued run; a second delivery finds it claimed and does nothing."""
    if not services.execute_run(run_id):
        raise self.retry(countdown=WAIT_SECONDS)


@shared_task(ignore_result=True)
def fire_schedule(agent_id: int) -> None:
    """Beat's entry point for an agent's schedule."""
    services.fire_schedule(agent_id)


@shared_task(ignore_result=True)
def sweep_stuck_runs() -> None:
    """Every few minutes (see migration 0004): repair runs and dreams a lost worker or
    message left."""
    services.sweep_stuck_runs()
    dreams.sweep_stuck_dreams()


@shared_task(ignore_result=True)
def evaluate_alerts() -> None:
    """Every minute (see migration 0008): open and resolve quality alerts."""
    alerts.evaluate_alerts()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_dream(dream_id: int) -> None:
    """Run a queued dream; a second delivery finds it claimed and does nothing."""
    dreams.execute_dream(dream_id)


@shared_task(ignore_result=True)
def fire_dream(agent_id: int) -> None:
    """Beat's entry point for an agent's dream schedule."""
    dreams.fire_dream(agent_id)
