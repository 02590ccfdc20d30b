"""Runs executed by a real Celery worker on Redis, against the simulated model.

The worker runs in a thread of this process (pool "solo") with its own database
connections, so these tests use committed transactions (transaction=True).
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from agents import services
from agents.models import Run, RunEvent
from agents.simulator import Turn
from tests.factories import make_agent, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_now_is_executed_by_the_worker_and_priced(worker, simulator, client_a):
    simulator.add_script(
        "audit",
        [
            Turn(text="Checking.", tool_uses=({"name": "missing_tool", "input": {}},)),
            Turn(text="# Audit\nTwo titles repeat."),
        ],
    )
    agent = make_agent(client_a, instructions="Audit the site. [sim:script=audit]")

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    assert run.output == "# Audit\nTwo titles repeat."
    types = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("type", flat=True))
    assert types == [
        "run.started",
        "model.response",
        "tool.call",
        "tool.result",
        "model.response",
        "run.finished",
    ]
    events = RunEvent.objects.filter(run=run)
    assert run.model_cost_usd > 0
    assert run.model_cost_usd == sum(e.cost_usd for e in events)
    assert run.output_tokens == sum(e.output_tokens for e in events)
    assert run.started_at <= run.finished_at
    # The runtime charge: $0.08 an hour of the run (rounded to the micro-dollar).
    hours = Decimal((run.finished_at - run.started_at).total_seconds()) / 3600
    assert run.runtime_cost_usd > 0
    assert abs(run.runtime_cost_usd - hours * Decimal("0.08")) < Decimal("0.000002")
    assert run.cost_usd == run.model_cost_usd + run.runtime_cost_usd


def test_a_run_survives_transient_errors_through_retries(worker, simulator, client_a):
    simulator.add_script("flaky", [Turn(text="done", fail_first=(529, 500))])
    agent = make_agent(client_a, instructions="[sim:script=flaky]", retry_backoff_seconds="0.01")

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    assert RunEvent.objects.filter(run=run, type="model.retry").count() == 2


def test_a_run_that_keeps_failing_ends_failed_with_the_reason(worker, simulator, client_a):
    simulator.add_script("down", [Turn(text="x", fail_first=(500,) * 9)])
    agent = make_agent(
        client_a, instructions="[sim:script=down]", retry_attempts=2, retry_backoff_seconds="0.01"
    )

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.FAILED
    assert "after 2 attempts" in run.error


def test_a_second_delivery_of_the_task_does_not_run_it_again(worker, simulator, client_a):
    simulator.add_script("once", [Turn(text="only once")])
    agent = make_agent(client_a, instructions="[sim:script=once]")
    run = wait_for(services.trigger_run(agent, None))
    events_before = RunEvent.objects.filter(run=run).count()

    services.execute_run(run.pk)  # as if the broker delivered the task again

    assert RunEvent.objects.filter(run=run).count() == events_before
    run.refresh_from_db()
    assert run.status == Run.Status.SUCCEEDED


def test_a_cancelled_run_keeps_the_cost_it_ran_up(worker, simulator, client_a):
    simulator.state.config.latency = 0.5
    simulator.add_script(
        "two", [Turn(tool_uses=({"name": "nope", "input": {}},)), Turn(text="never")]
    )
    agent = make_agent(client_a, instructions="[sim:script=two]")
    run = services.trigger_run(agent, None)
    deadline = time.monotonic() + 20
    while not RunEvent.objects.filter(run=run, type="model.response").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)

    services.cancel_run(run, None)
    run = wait_for(run)
    time.sleep(1.5)  # let the worker notice and record what it spent
    run.refresh_from_db()

    assert run.status == Run.Status.CANCELLED
    assert run.cost_usd > 0
    assert run.model_cost_usd == sum(e.cost_usd for e in RunEvent.objects.filter(run=run))


def test_the_agent_works_in_a_sandbox_and_its_files_become_artifacts(
    worker, simulator, client, bob, client_a
):
    # No script: the simulator's generated SEO audit lists files, then writes report.md.
    agent = make_agent(
        client_a,
        instructions="Nightly SEO audit of https://acmebakery.test.",
        tools=["list_files", "write_file"],
    )

    run = wait_for(services.trigger_run(agent, None))

    assert run.status == Run.Status.SUCCEEDED
    calls = RunEvent.objects.filter(run=run, type="tool.result").order_by("seq")
    assert [e.data["name"] for e in calls] == ["list_files", "write_file"]
    assert calls[0].data["content"] == "(no files)"
    assert calls[1].data["content"].startswith("Wrote ")
    artifact = run.artifacts.get()
    assert artifact.path == "report.md"
    assert bytes(artifact.content).startswith(b"# SEO audit")
    assert not services.workspace_of(run, 1).parent.exists()  # the workspace is cleaned up

    client.force_login(bob)
    page = client.get(f"/a/agency-a/runs/{run.public_id}/")
    link = f"/a/agency-a/runs/{run.public_id}/artifacts/{artifact.public_id}/"
    assert link.encode() in page.content
    download = client.get(link)
    assert download["Content-Disposition"] == 'attachment; filename="report.md"'
    assert download["Content-Type"] == "application/octet-stream"
    assert download.content == bytes(artifact.content)
