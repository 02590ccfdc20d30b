"""Scheduler lateness and duplicates with many enabled schedules.

What it measures: for N enabled agent schedules (`--schedules`, 10,000), how late
each scheduled run is created, from its slot (the cron's minute) to the Run row
(`Run.queued_at - Run.scheduled_for`), as p50 and p99 over every slot in the
window, and whether any slot got more than one run or more than one fire.

How: agents are seeded in bulk on a fresh `agencyops_bench` database, and each
gets the django-celery-beat PeriodicTask that `agents.scheduling.sync_agent_schedule`
gives it (the real function for the first agent of each cron, copies of its row
for the rest, then the real function re-run on a sample to confirm it would
change nothing). Schedule i fires every `--every` minutes (10) at minute offset
i % every: `{i % every}-59/{every} * * * *`, so N/every schedules fire each minute
(1,000 with the defaults). Then a real `celery -A agencyops beat` (the configured
scheduler) and `--workers` real worker processes (1; `--pool threads
--concurrency C -Q schedule,runs`) run on Redis db 14 for `--minutes` whole
minutes (3) after a `--warmup` (30 s) for beat to load. The runs the fires create
are executed by the same worker: each agent's instructions play a simulator
script that ends in one call at latency 0, so runs cost the worker little and
the figures stay about scheduling (that load is still there, as in production).

Figures: lateness p50/p99/max overall and per slot minute; the split into beat's
part (slot to "Sending due task" in beat's log) and the worker's part (send to
Run row); missed slots; duplicates: (agent, slot) pairs with more than one Run
(the unique constraint makes this 0), with more than one fire sent by beat, and
fire tasks executed minus runs created (fires the constraint or the
"already run" check swallowed); CPU per process; PostgreSQL connections.

Goals: p99 lateness < 5 s, duplicates 0.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    Bench,
    CpuMeter,
    check_schedule_rows,
    log,
    next_minute,
    percentile,
    pg_sessions,
    run_bench,
    seed_agents,
    sleep_until,
    summary,
)

GOAL_P99 = 5.0
SCRIPT = "bench-one-call"
SEND = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
    r".*Sending due task (\S+) \(agents\.tasks\.fire_schedule\)"
)
FIRE_DONE = re.compile(r"Task agents\.tasks\.fire_schedule\[[^\]]+\] (succeeded|raised|failed)")
DISCARDED = re.compile(r"Discarding revoked task: agents\.tasks\.fire_schedule")


def cron_for(every: int) -> tuple[str, ...]:
    """One cron per minute offset: offset o fires at o, o+every, ... each hour."""
    if every == 1:
        return ("* * * * *",)
    return tuple(f"{offset}-59/{every} * * * *" for offset in range(every))


def main() -> None:
    parser = argparse.ArgumentParser(description="Scheduler lateness and duplicates.")
    parser.add_argument("--schedules", type=int, default=10_000, help="N enabled schedules")
    parser.add_argument(
        "--every",
        type=int,
        default=10,
        help="minutes between fires of one schedule; schedule i fires at minute "
        "offset i %% every, so N/every fire each minute (10; must divide 60)",
    )
    parser.add_argument("--minutes", type=int, default=3, help="M measured minutes (3)")
    parser.add_argument("--warmup", type=float, default=30, help="seconds for beat to load (30)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--concurrency", type=int, default=50, help="threads per worker (50)")
    parser.add_argument(
        "--pool-size", type=int, default=20, help="DATABASE_POOL_MAX_SIZE per process (20)"
    )
    parser.add_argument("--agencies", type=int, default=100, help="agencies (100)")
    parser.add_argument("--clients-per-agency", type=int, default=10, help="clients each (10)")
    args = parser.parse_args()
    if 60 % args.every:
        parser.error("--every must divide 60")

    run_bench("scheduler", run, args)


def run(bench: Bench, args: argparse.Namespace) -> None:
    bench.prepare()
    bench.start_simulator(0.0)
    bench.add_script(SCRIPT, [{"text": "# Done\nNothing to report."}])
    bench.env["DATABASE_POOL_MAX_SIZE"] = str(args.pool_size)
    bench.setup_django()

    from agents.models import Run
    from agents.scheduling import task_name
    from agents.services import schedule_slot

    crons = cron_for(args.every)
    log(f"seeding {args.schedules} agents with schedules")
    started = time.monotonic()
    agents = seed_agents(
        args.schedules,
        f"Check the rankings. [sim:script={SCRIPT}]",
        cron_for=lambda i: crons[i % len(crons)],
        agencies=args.agencies,
        clients_per_agency=args.clients_per_agency,
    )
    seed_seconds = time.monotonic() - started
    differs = check_schedule_rows(agents)
    by_task = {task_name(agent): agent for agent in agents}

    queues = bench.worker_queues()
    log(f"starting {args.workers} worker(s) on {queues}, then beat")
    workers = [
        bench.start_worker(f"worker{n}", args.concurrency, queues) for n in range(args.workers)
    ]
    bench.start_beat()
    beat_started = datetime.now(UTC)
    first = next_minute(beat_started + timedelta(seconds=args.warmup))
    end = first + timedelta(minutes=args.minutes)
    expected = args.schedules // args.every * args.minutes
    meter = CpuMeter(
        {
            "beat": bench.children["beat"].pid,
            **{f"worker{n}": proc.pid for n, proc in enumerate(workers)},
            "simulator": bench.children["simulator"].pid,
        }
    )
    log(f"measuring slots {first:%H:%M} to {end - timedelta(minutes=1):%H:%M} UTC")
    sleep_until(first)
    sessions_before = pg_sessions()
    meter.start()
    window = Run.objects.filter(
        trigger=Run.Trigger.SCHEDULE, scheduled_for__gte=first, scheduled_for__lt=end
    )
    # Wait for the last slot's fires: until all are in, or nothing new for 15 s,
    # or 5 minutes past the window.
    sleep_until(end)
    last_count, last_change = -1, time.monotonic()
    while datetime.now(UTC) < end + timedelta(minutes=5):
        count = window.count()
        if count >= expected:
            break
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > 15:
            break
        time.sleep(1)
    meter.stop()
    sessions = pg_sessions() - sessions_before
    bench.stop("beat")
    time.sleep(2)

    rows = [
        (agent_id, slot, queued, status)
        for agent_id, slot, queued, status in window.values_list(
            "agent_id", "scheduled_for", "queued_at", "status"
        )
        if slot is not None
    ]
    lateness = [(queued - slot).total_seconds() for _, slot, queued, _ in rows]
    per_slot: dict[datetime, list[float]] = defaultdict(list)
    for _, slot, queued, _ in rows:
        per_slot[slot].append((queued - slot).total_seconds())
    run_of = {(agent_id, slot): queued for agent_id, slot, queued, _ in rows}
    statuses = Counter(status for *_, status in rows)
    per_pair = Counter(
        Run.objects.filter(scheduled_for__isnull=False).values_list("agent_id", "scheduled_for")
    )
    dup_runs = sum(1 for n in per_pair.values() if n > 1)
    runs_total = Run.objects.filter(trigger=Run.Trigger.SCHEDULE).count()

    # Beat's log: when each fire was sent.
    sends: dict[tuple[int, datetime], list[datetime]] = defaultdict(list)
    sends_total = 0
    for line in bench.log_path("beat").read_text(errors="replace").splitlines():
        match = SEND.search(line)
        if not match or match.group(2) not in by_task:
            continue
        sends_total += 1
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC)
        agent = by_task[match.group(2)]
        sends[(agent.pk, schedule_slot(agent, when))].append(when)
    beat_part: list[float] = []
    worker_part: list[float] = []
    dup_sends = 0
    for (agent_id, slot), times in sends.items():
        if not first <= slot < end:
            continue
        dup_sends += len(times) > 1
        beat_part.append((min(times) - slot).total_seconds())
        created = run_of.get((agent_id, slot))
        if created is not None:
            worker_part.append((created - min(times)).total_seconds())
    fires_done = discarded = 0
    for n in range(args.workers):
        text = bench.log_path(f"worker{n}").read_text(errors="replace")
        fires_done += len(FIRE_DONE.findall(text))
        discarded += len(DISCARDED.findall(text))

    p99 = percentile(lateness, 99) if lateness else float("inf")
    print("== bench/scheduler.py: schedule lateness and duplicates ==")
    print(
        f"setup: {args.schedules} enabled schedules, spread: schedule i fires every "
        f"{args.every} min at minute offset i % {args.every} (crons {crons[0]!r} .. "
        f"{crons[-1]!r}), {args.schedules // args.every} fires per minute; "
        f"{args.workers} worker(s) x {args.concurrency} threads on -Q {queues}, "
        f"DATABASE_POOL_MAX_SIZE={args.pool_size}; runs execute in the same worker "
        "(1 model call, latency 0)"
    )
    print(
        f"seeding: {seed_seconds:.1f} s; beat tasks copied from sync_agent_schedule, re-check "
        f"of a sample changed {', '.join(differs) if differs else 'nothing'}"
    )
    print(
        f"window: slots {first:%H:%M} to {end - timedelta(minutes=1):%H:%M} UTC "
        f"({args.minutes} min, beat started {beat_started:%H:%M:%S}); expected {expected} runs, "
        f"created {len(rows)}, not created by the time the benchmark stopped waiting "
        f"{expected - len(run_of)}"
    )
    print(f"lateness (Run.queued_at - scheduled_for): {summary(lateness)}")
    for slot in sorted(per_slot):
        print(f"  slot {slot:%H:%M}: {summary(per_slot[slot])}")
    print(f"  beat's part (slot -> 'Sending due task'): {summary(beat_part)}")
    print(f"  worker's part (sent -> Run row): {summary(worker_part)}")
    print(
        f"goal p99 < {GOAL_P99:.0f} s: {'met' if p99 < GOAL_P99 else 'NOT met'} "
        f"(p99 {p99:.3f} s, p99/goal {p99 / GOAL_P99:.3f})"
    )
    print(
        f"duplicates: (agent, slot) with >1 run: {dup_runs} (whole run, all slots); "
        f"with >1 fire sent by beat: {dup_sends} (window); max runs per (agent, slot): "
        f"{max(per_pair.values(), default=0)}; "
        f"goal 0: {'met' if dup_runs == 0 and dup_sends == 0 else 'NOT met'}"
    )
    print(
        f"fires over the whole run: beat sent {sends_total}, workers executed {fires_done} "
        f"fire_schedule tasks ({discarded} discarded as expired), runs created by fires "
        f"{runs_total}; fires that created nothing: {fires_done - runs_total}"
    )
    print(f"window runs by status at the end: {dict(statuses)}")
    print(
        f"PostgreSQL: {sessions} sessions opened in the window, "
        f"peak {meter.peak_db_backends} backends on the bench DB"
    )
    for line in meter.lines():
        print(line)
    log(f"logs and data under {bench.tmp}")


if __name__ == "__main__":
    main()
