"""Celery entry points: thin shells around agents.services."""

from __future__ import annotations

from celery import shared_task

from agents import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: int) -> None:
    """Run a queued run; a second delivery finds it claimed and does nothing."""
    services.execute_run(run_id)
