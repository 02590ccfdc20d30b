"""Eight weeks of a demo agent with weekly dreams, against the same agent with dreaming off.

What it measures: the plumbing from a failure to a better later run. A criterion
the grader marks down becomes a failure-mode note in a dream, the note enters the
memory window of later runs' system prompts, and the later work changes. It does
NOT measure a model's intelligence: the simulated model's generated work is
deterministic and depends on its prompt in a simple way (it applies each note of
its memory window in a section of the report, as it answers a revision's
feedback), and the generated grader scores by which words of each criterion the
work uses. So the figures show whether the loop is connected end to end, not how
much a real model would gain.

How: a fresh `agencyops_bench` database and Redis db 14, the simulator started
here (generated mode, no scripts, `--latency` 0), and one real Celery worker
(threads). Two copies of the demo's "Nightly SEO audit" agent (its instructions
and the SEO audit starter rubric, up to `--revisions` revision passes, no sandbox
tools): one with weekly dreams, review mode "apply every change"; one with
dreaming off. Each simulated day, `services.fire_schedule` fires that day's 02:00
slot and the worker runs it; after every seventh day, `dreams.fire_dream` fires
the weekly dream and the worker runs it. Days are schedule slots, not wall-clock
days: the calendar is simulated, the runs, grades and dreams are real.

Printed: per week and arm, the mean first-pass grade, the mean final grade, how
many runs passed first time, the revision passes, and the spend (agent, grader,
dreams); then each dream's outcome, and how many runs started with memory notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Bench, log, run_bench

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # a Monday, 02:00


def _wait(model: Any, pk: int, finished: frozenset[str], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = model.objects.get(pk=pk)
        if row.status in finished:
            return row
        time.sleep(0.05)
    raise RuntimeError(f"{model.__name__} {pk} still {row.status} after {timeout:.0f} s")


def _agent(name: str, dreaming: bool, revisions: int) -> Any:
    from agents import rubric_library, services
    from agents.management.commands.seed_demo_agents import DEMO_AGENTS
    from agents.models import Agent, ModelPrice
    from agents.prices import ensure_default_prices
    from clients.models import Agency, Client

    ensure_default_prices()
    agency, _ = Agency.objects.get_or_create(slug="bench", defaults={"name": "Bench agency"})
    client, _ = Client.objects.get_or_create(
        agency=agency, name="Acme Bakery", defaults={"timezone": "UTC"}
    )
    _client, _title, instructions, _schedule, starter = DEMO_AGENTS[0]
    agent = services.save_agent(
        Agent(
            agency=agency,
            client=client,
            name=name,
            instructions=instructions,
            model=ModelPrice.objects.get(model="claude-sonnet-4-6"),
            schedule="0 2 * * *",
            timezone="UTC",
            tools=[],
            dreaming_enabled=dreaming,
            memory_review_mode=Agent.ReviewMode.AUTO,
        ),
        None,
    )
    found = rubric_library.starter(starter)
    assert found is not None  # noqa: S101 (the demo's own starter)
    text = found.text.replace("max_revisions: 2", f"max_revisions: {revisions}")
    services.save_rubric(agent, text, None)
    return agent


def _simulate(agent: Any, weeks: int) -> None:
    from agents import dreams, services
    from agents.models import Dream, Run

    for day in range(weeks * 7):
        slot = START + timedelta(days=day)
        run = services.fire_schedule(agent.pk, fired_at=slot)
        if run is None:
            raise RuntimeError(f"no run for {slot}")
        run = _wait(Run, run.pk, Run.FINISHED)
        log(f"{agent.name}: day {day + 1} {run.status} {run.first_pass_score}->{run.score}")
        if agent.dreaming_enabled and day % 7 == 6:
            item = dreams.fire_dream(agent.pk, fired_at=slot + timedelta(hours=2))
            if item is None:
                raise RuntimeError("the dream did not fire")
            item = _wait(Dream, item.pk, Dream.FINISHED)
            log(f"{agent.name}: dream after week {day // 7 + 1}: {item.status}")


def _weeks(agent: Any, weeks: int) -> list[dict[str, Any]]:
    from agents.models import Dream, Run

    rows = []
    for week in range(weeks):
        begin = START + timedelta(days=7 * week)
        runs = list(
            Run.objects.filter(
                agent=agent,
                scheduled_for__gte=begin,
                scheduled_for__lt=begin + timedelta(days=7),
            )
        )
        graded = [r for r in runs if r.first_pass_score is not None]
        dream_cost = sum(
            (
                d.cost_usd
                for d in Dream.objects.filter(
                    agent=agent,
                    scheduled_for__gte=begin,
                    scheduled_for__lt=begin + timedelta(days=7, hours=12),
                )
            ),
            Decimal(0),
        )
        rows.append(
            {
                "runs": len(runs),
                "first": statistics.mean(float(r.first_pass_score or 0) for r in graded)
                if graded
                else None,
                "final": statistics.mean(float(r.score or 0) for r in graded) if graded else None,
                "first_time": sum(1 for r in graded if r.status == "succeeded" and not r.revisions),
                "passed": sum(1 for r in graded if r.status == "succeeded"),
                "revisions": sum(r.revisions for r in runs),
                "cost": sum((r.total_cost_usd for r in runs), Decimal(0)) + dream_cost,
            }
        )
    return rows


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:5.2f}"


def bench(b: Bench, args: argparse.Namespace) -> None:
    b.prepare()
    b.start_simulator(latency=0.0)
    b.setup_django()
    b.start_worker("worker", concurrency=2, queues="schedule,runs,celery")

    from agents.models import Dream, MemoryVersion, RunEvent

    on = _agent("SEO audit, dreaming on", True, args.revisions)
    off = _agent("SEO audit, dreaming off", False, args.revisions)
    started = time.monotonic()
    for agent in (on, off):
        _simulate(agent, args.weeks)
    elapsed = time.monotonic() - started

    print(__doc__.split("\n\n")[1].replace("\n", " "))
    print()
    print(f"{args.weeks} weeks, one run a day, up to {args.revisions} revision(s) per run; ")
    print(f"dreams weekly (review mode: apply every change). Wall time {elapsed:.0f} s.")
    print()
    header = (
        "week | first-pass grade  on / off | final grade  on / off | "
        "passed first time  on / off | revisions  on / off | spend USD  on / off"
    )
    print(header)
    print("-" * len(header))
    weeks_on, weeks_off = _weeks(on, args.weeks), _weeks(off, args.weeks)
    for n, (a, z) in enumerate(zip(weeks_on, weeks_off, strict=True), 1):
        print(
            f"{n:4d} |            {_fmt(a['first'])} / {_fmt(z['first'])} |"
            f"       {_fmt(a['final'])} / {_fmt(z['final'])} |"
            f"               {a['first_time']:3d}/{a['runs']} / {z['first_time']:3d}/{z['runs']} |"
            f"          {a['revisions']:3d} / {z['revisions']:3d} |"
            f"  {a['cost']:.4f} / {z['cost']:.4f}"
        )

    def overall(rows: list[dict[str, Any]], key: str, weeks: slice) -> float:
        values = [r[key] for r in rows[weeks] if r[key] is not None]
        return statistics.mean(values) if values else float("nan")

    later = slice(1, None)  # from week 2: the first dream comes after week 1
    first_on, first_off = overall(weeks_on, "first", later), overall(weeks_off, "first", later)
    print()
    print(
        f"weeks 2-{args.weeks}: mean first-pass grade {first_on:.2f} with dreams, "
        f"{first_off:.2f} without (ratio {first_on / first_off:.2f}); "
        f"revision passes {sum(r['revisions'] for r in weeks_on[later])} with, "
        f"{sum(r['revisions'] for r in weeks_off[later])} without"
    )
    spend_on = sum((r["cost"] for r in weeks_on), Decimal(0))
    spend_off = sum((r["cost"] for r in weeks_off), Decimal(0))
    print(
        f"total spend ${spend_on:.4f} with dreams (dreams included), ${spend_off:.4f} without "
        f"(ratio {spend_on / spend_off:.2f})"
    )
    print()
    for item in Dream.objects.filter(agent=on).order_by("scheduled_for"):
        print(
            f"dream {item.scheduled_for:%Y-%m-%d}: {item.status}, {item.runs.count()} runs read, "
            f"{item.applied} applied, {item.queued} queued, {item.refused} refused, "
            f"${item.cost_usd:.4f}{' - ' + item.reason if item.reason else ''}"
            f"{' - ' + item.error if item.error else ''}"
        )
    with_notes = RunEvent.objects.filter(run__agent=on, type="memory.window").count()
    print(
        f"runs of the dreaming agent that started with memory notes: {with_notes} of "
        f"{on.runs.count()}; notes written by dreams: "
        f"{MemoryVersion.objects.filter(memory__store__agent=on, actor='dream').count()} versions"
    )
    print(
        "off-arm runs that started with memory notes: "
        f"{RunEvent.objects.filter(run__agent=off, type='memory.window').count()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--revisions", type=int, default=1)
    run_bench("dreaming", bench, parser.parse_args())


if __name__ == "__main__":
    main()
