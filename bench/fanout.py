"""Fan-out: N agents due in the same minute, carried by the workers of one host.

What it measures: with N agents (`--agents`, 1,000) all scheduled for the same
minute, the time from that minute to the moment every run it created has
finished (succeeded or failed), the throughput in runs per minute, and how many
succeeded or failed.

How: on a fresh `agencyops_bench` database (Redis db 14 as broker), N agents are
seeded in bulk, each with the beat task `agents.scheduling.sync_agent_schedule`
gives it, on the cron `M H * * *` (UTC) of a minute at least `--lead` seconds
(60) ahead. Their instructions play a simulator script of `--calls` model calls
(4: three tool_use turns of a tool the agent lacks, then the answer), each
answered after `--latency` seconds (1.0). A real `celery -A agencyops beat`
(the configured scheduler) and `--workers` real worker processes (1; `--pool threads
--concurrency C -Q schedule,runs`, C = `--concurrency`, 300) run it, each with
DATABASE_POOL_MAX_SIZE=`--pool-size` (40) so its threads share a few PostgreSQL
connections (the server allows 100). The benchmark polls the database once a
second until every run of the slot has finished, or `--timeout` (900 s).

Figures: elapsed (slot to last finish) and its ratio to the goal, runs per
minute, outcomes; where the time goes: when fires created the runs, when runs
started (queue wait), how long each took against its floor of calls x latency,
how long model calls took inside runs (RunEvent.duration_ms) against the
latency; the most runs running at once; PostgreSQL sessions and peak
connections; CPU per process.

Goal: all N runs finished within 60 s of the scheduled minute.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    Bench,
    CpuMeter,
    log,
    next_minute,
    percentile,
    pg_sessions,
    run_bench,
    scripted_turns,
    seed_agents,
    sleep_until,
    summary,
)

GOAL_SECONDS = 60.0
SCRIPT = "bench-fanout"
FINISHED = ("succeeded", "failed", "timed_out", "cancelled", "skipped")


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out of N runs due in the same minute.")
    parser.add_argument("--agents", type=int, default=1000, help="N agents due at once (1000)")
    parser.add_argument("--concurrency", type=int, default=300, help="threads per worker (300)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this host (1; README 'Running at scale' runs one per core)",
    )
    parser.add_argument(
        "--pool-size", type=int, default=40, help="DATABASE_POOL_MAX_SIZE of the worker (40)"
    )
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call (1)")
    parser.add_argument("--calls", type=int, default=4, help="model calls per run (4)")
    parser.add_argument(
        "--lead", type=float, default=60, help="seconds from seeding to the slot at least (60)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="give up after (900 s)")
    args = parser.parse_args()

    run_bench("fanout", run, args)


def run(bench: Bench, args: argparse.Namespace) -> None:
    bench.prepare()
    bench.start_simulator(args.latency)
    bench.add_script(SCRIPT, scripted_turns(args.calls))
    bench.env["DATABASE_POOL_MAX_SIZE"] = str(args.pool_size)
    bench.setup_django()

    from agents.models import Run, RunEvent

    slot = next_minute(datetime.now(UTC) + timedelta(seconds=args.lead))
    cron = f"{slot.minute} {slot.hour} * * *"
    log(f"seeding {args.agents} agents on {cron!r} (UTC): due at {slot:%H:%M}")
    seed_agents(
        args.agents,
        f"Watch the client's competitors and report. [sim:script={SCRIPT}]",
        cron_for=lambda i: cron,
        agencies=max(1, args.agents // 100),
        clients_per_agency=10,
    )
    queues = bench.worker_queues()
    log(f"starting {args.workers} worker(s) ({args.concurrency} threads on {queues}), then beat")
    workers = {
        f"worker{n}": bench.start_worker(f"worker{n}", args.concurrency, queues)
        for n in range(args.workers)
    }
    bench.start_beat()
    margin = (slot - datetime.now(UTC)).total_seconds()
    if margin < 2:
        log(f"WARNING: beat and the worker were ready only {margin:.0f} s before the slot")
    meter = CpuMeter(
        {
            **{name: proc.pid for name, proc in workers.items()},
            "beat": bench.children["beat"].pid,
            "simulator": bench.children["simulator"].pid,
        }
    )
    sleep_until(slot)
    sessions_before = pg_sessions()
    meter.start()
    runs = Run.objects.filter(scheduled_for=slot)
    deadline = slot + timedelta(seconds=args.timeout)
    next_report = time.monotonic() + 15
    while datetime.now(UTC) < deadline:
        done = runs.filter(status__in=FINISHED).count()
        if done >= args.agents:
            break
        if time.monotonic() >= next_report:
            counts = Counter(runs.values_list("status", flat=True))
            elapsed = (datetime.now(UTC) - slot).total_seconds()
            log(f"+{elapsed:.0f} s: {dict(counts)}")
            next_report += 15
        time.sleep(1)
    meter.stop()
    sessions = pg_sessions() - sessions_before

    rows = list(runs.values_list("pk", "status", "queued_at", "started_at", "finished_at", "error"))
    statuses = Counter(status for _, status, *_ in rows)
    finished_at = [f for _, status, _, _, f, _ in rows if status in FINISHED and f is not None]
    complete = len(finished_at) >= args.agents
    last = max(finished_at) if finished_at else datetime.now(UTC)
    elapsed = (last - slot).total_seconds() if complete else args.timeout
    since = [(q - slot).total_seconds() for _, _, q, _, _, _ in rows]
    started = [(s - slot).total_seconds() for _, _, _, s, _, _ in rows if s is not None]
    waited = [(s - q).total_seconds() for _, _, q, s, _, _ in rows if s is not None]
    took = [(f - s).total_seconds() for _, _, _, s, f, _ in rows if s is not None and f is not None]
    ended = [(f - slot).total_seconds() for f in finished_at]
    edges = sorted(
        [(s, 1) for _, _, _, s, _, _ in rows if s is not None]
        + [(f, -1) for _, _, _, s, f, _ in rows if s is not None and f is not None]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    events = RunEvent.objects.filter(run__scheduled_for=slot)
    call_ms = [
        ms / 1000
        for ms in events.filter(type="model.response").values_list("duration_ms", flat=True)
    ]
    retries = events.filter(type="model.retry").count()
    errors = Counter(error.split("\n")[0][:120] for _, status, *_, error in rows if error)

    ok = complete and elapsed <= GOAL_SECONDS
    threads = args.concurrency * args.workers
    floor = args.calls * args.latency
    print("== bench/fanout.py: N runs due in the same minute, on this one host ==")
    print(
        f"setup: N={args.agents} agents on cron {cron!r} (UTC), {args.calls} model calls per "
        f"run at {args.latency:.2f} s latency (floor {floor:.1f} s per run); "
        f"{args.workers} worker process(es), each "
        f"--pool threads --concurrency {args.concurrency} -Q {queues}, "
        f"DATABASE_POOL_MAX_SIZE={args.pool_size}"
    )
    print(
        f"elapsed, slot {slot:%H:%M:%S} to last run finished: "
        + (f"{elapsed:.1f} s" if complete else f"more than {args.timeout:.0f} s (timed out)")
        + f"; goal <= {GOAL_SECONDS:.0f} s: {'met' if ok else 'NOT met'} "
        f"(elapsed/goal {elapsed / GOAL_SECONDS:.2f})"
    )
    print(
        f"runs: created {len(rows)} of {args.agents}, finished {len(finished_at)}; "
        f"by status {dict(statuses)}; throughput {len(finished_at) / elapsed * 60:.0f} runs/min"
    )
    print(f"run created (queued_at - slot): {summary(since)}")
    print(f"run started (started_at - slot): {summary(started)}")
    print(f"queue wait (started_at - queued_at): {summary(waited)}")
    print(f"run duration (finished_at - started_at, floor {floor:.1f} s): {summary(took)}")
    print(f"run finished (finished_at - slot): {summary(ended)}")
    print(
        f"model calls inside runs (RunEvent.duration_ms, latency {args.latency:.2f} s): "
        f"{summary(call_ms)}; retries {retries}"
    )
    print(
        f"most runs running at once: {peak} (threads {threads}); ideal elapsed with "
        f"{threads} threads: {-(-args.agents // threads) * floor:.0f} s"
    )
    print(
        f"PostgreSQL: {sessions} sessions opened, peak {meter.peak_db_backends} backends on "
        "the bench DB (all processes)"
    )
    for line in meter.lines():
        print(line)
    for message, count in errors.most_common(5):
        print(f"error x{count}: {message}")
    if started:
        print(
            f"p99 of start after slot: {percentile(started, 99):.1f} s; "
            f"p99 of finish after slot: {percentile(ended, 99) if ended else float('nan'):.1f} s"
        )
    log(f"logs and data under {bench.tmp}")


if __name__ == "__main__":
    main()
