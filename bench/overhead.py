"""Overhead of the run pipeline over a bare SDK loop, per run.

What it measures: the wall time of one run through the whole pipeline,
`agents.services.execute_run(run_id)` called in this process on a queued Run
(claim, engine, one RunEvent row per step written to PostgreSQL, heartbeats,
finish), against a bare loop with the `anthropic` SDK pointed at the same
simulator that makes the same model calls (same system prompt, messages and
max_tokens) with nothing around them.

How: the simulator (started here; `--latency` seconds before each reply, 0.25 s
by default, since real calls take seconds) plays a scripted conversation of
`--calls` model calls (4): `--calls - 1` tool_use turns of a tool the agent does
not have (the engine and the bare loop both answer "No tool named ...") and a
final text turn. Pipeline and bare loops run in rotation, `--runs` times each
(50) after `--warmup` uncounted rounds, so all see the same machine load. Two
bare loops are timed by default: `messages.create` (the stated baseline) and
`messages.stream` (the engine streams, so this one uses the same wire path; it
is the fair one: the simulator's non-streamed JSON replies on a kept-alive
connection stall about 40 ms each, see bench/README.md). Also printed: the model
time inside the pipeline (RunEvent.duration_ms), CPU per run in this process,
and the PostgreSQL sessions the pipeline opened (`--profile` adds a cProfile).
Everything runs on a fresh `agencyops_bench` database and Redis db 14.

Goal: mean pipeline / mean bare <= 1.15.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anthropic  # noqa: TID251 (the baseline is the bare SDK)

from bench._harness import (
    Bench,
    log,
    make_runs,
    percentile,
    pg_sessions,
    run_bench,
    scripted_turns,
    seed_agents,
)

GOAL = 1.15
SCRIPT = "bench-overhead"
MAX_TOKENS = 4096  # what the engine asks for (AgentJob.max_tokens)


def bare_conversation(
    client: anthropic.Anthropic, model: str, system: str, prompt: str, stream: bool
) -> int:
    """The same conversation as the engine's, with nothing around it. Returns the calls made."""
    cached_system: Any = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    messages: list[Any] = [{"role": "user", "content": prompt}]
    calls = 0
    while True:
        message: Any
        if stream:
            with client.messages.stream(
                model=model, max_tokens=MAX_TOKENS, system=cached_system, messages=messages
            ) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(
                model=model, max_tokens=MAX_TOKENS, system=cached_system, messages=messages
            )
        calls += 1
        content = [block.model_dump(exclude_none=True) for block in message.content]
        messages.append({"role": "assistant", "content": content})
        uses = [block for block in content if block["type"] == "tool_use"]
        if message.stop_reason != "tool_use" or not uses:
            return calls
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use["id"],
                        "content": f"No tool named {use['name']!r} is available.",
                        "is_error": True,
                    }
                    for use in uses
                ],
            }
        )


def stats_line(label: str, values: list[float]) -> str:
    mean = sum(values) / len(values)
    return (
        f"{label}: mean {mean:.4f} s, p50 {percentile(values, 50):.4f} s, "
        f"p99 {percentile(values, 99):.4f} s, min {min(values):.4f} s, max {max(values):.4f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50, help="K: measured runs of each (50)")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted rounds first (2)")
    parser.add_argument("--calls", type=int, default=4, help="model calls per run (4)")
    parser.add_argument(
        "--latency", type=float, default=0.25, help="simulator seconds per call (0.25)"
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=0,
        help="DATABASE_POOL_MAX_SIZE for the pipeline (0: off, the default configuration)",
    )
    parser.add_argument(
        "--bare",
        choices=("both", "create", "stream"),
        default="both",
        help="bare loop(s) to time: messages.create (the stated baseline), messages.stream "
        "(the engine's own wire path), or both (default)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="CPU-profile the pipeline runs (cProfile)"
    )
    args = parser.parse_args()

    run_bench("overhead", run, args)


def run(bench: Bench, args: argparse.Namespace) -> None:
    bench.prepare()
    sim_url = bench.start_simulator(args.latency)
    bench.add_script(SCRIPT, scripted_turns(args.calls))
    bench.env["DATABASE_POOL_MAX_SIZE"] = str(args.pool_size)
    bench.setup_django()
    # One line per HTTP request on stderr says nothing here.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    from agents import services
    from agents.models import Run, RunEvent

    agent = seed_agents(1, f"Check the client's site and report. [sim:script={SCRIPT}]")[0]
    run_ids = make_runs([agent], per_agent=args.warmup + args.runs)
    client = anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0)
    model = agent.model.model
    # CPU time, not wall time: waiting on the model would swamp everything else.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    modes = ["create", "stream"] if args.bare == "both" else [args.bare]

    wall: dict[str, list[float]] = {"pipeline": [], **{m: [] for m in modes}}
    cpu: dict[str, list[float]] = {name: [] for name in wall}
    bare_calls: list[int] = []
    measured_ids: list[int] = []
    sessions_before = 0
    log(f"running {args.warmup} warm-up + {args.runs} measured rounds")
    for i, run_id in enumerate(run_ids):
        counted = i >= args.warmup
        if i == args.warmup:
            sessions_before = pg_sessions()

        def one(name: str, run_id: int = run_id, counted: bool = counted) -> None:
            use_profiler = profiler is not None and counted and name == "pipeline"
            if use_profiler:
                profiler.enable()  # type: ignore[union-attr]
            cpu_start, start = time.process_time(), time.perf_counter()
            if name == "pipeline":
                services.execute_run(run_id)
            else:
                calls = bare_conversation(
                    client, model, services.SYSTEM_PROMPT, agent.instructions, name == "stream"
                )
            elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu_start
            if use_profiler:
                profiler.disable()  # type: ignore[union-attr]
            if counted:
                wall[name].append(elapsed)
                cpu[name].append(cpu_used)
                if name == "pipeline":
                    measured_ids.append(run_id)
                else:
                    bare_calls.append(calls)

        # Rotate the order each round, so none always follows another.
        order = list(wall)
        for name in order[i % len(order) :] + order[: i % len(order)]:
            one(name)
    sessions = pg_sessions() - sessions_before

    statuses: dict[str, int] = {}
    for status in Run.objects.filter(pk__in=measured_ids).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    events = RunEvent.objects.filter(run_id__in=measured_ids)
    model_ms: dict[int, int] = {}
    for run_id, ms in events.filter(type="model.response").values_list("run_id", "duration_ms"):
        model_ms[run_id] = model_ms.get(run_id, 0) + ms

    k = len(measured_ids)
    mean = {name: sum(values) / k for name, values in wall.items()}
    print("== bench/overhead.py: the run pipeline vs a bare anthropic SDK loop ==")
    print(
        f"setup: K={k} runs of each (+{args.warmup} warm-up, not counted), "
        f"{args.calls} model calls per run, simulator latency {args.latency:.3f} s per call, "
        f"DATABASE_POOL_MAX_SIZE={args.pool_size}"
    )
    labels = {
        "pipeline": "pipeline (services.execute_run)",
        "create": "bare SDK loop, messages.create",
        "stream": "bare SDK loop, messages.stream",
    }
    width = max(len(labels[name]) for name in wall)
    for name, values in wall.items():
        print(stats_line(labels[name].ljust(width), values))
    for name in modes:
        ratio = mean["pipeline"] / mean[name]
        p50 = percentile(wall["pipeline"], 50) / percentile(wall[name], 50)
        extra = mean["pipeline"] - mean[name]
        print(
            f"ratio pipeline/bare({name}): mean {ratio:.3f}, p50 {p50:.3f}; "
            f"goal <= {GOAL:.2f}: {'met' if ratio <= GOAL else 'NOT met'} "
            f"(ratio/goal {ratio / GOAL:.3f}); pipeline adds {extra * 1000:+.1f} ms per run, "
            f"{extra * 1000 / args.calls:+.1f} ms per model call"
        )
    model_s = sum(model_ms.values()) / 1000 / k
    print(
        f"pipeline breakdown per run (mean): model calls {model_s:.4f} s "
        f"(sum of RunEvent.duration_ms; floor {args.calls * args.latency:.3f} s), "
        f"everything else {mean['pipeline'] - model_s:.4f} s "
        "(claim, client setup, RunEvent writes, heartbeats, finish)"
    )
    print(
        "bare per call (mean): "
        + ", ".join(f"{name} {mean[name] / args.calls * 1000:.1f} ms" for name in modes)
        + f" (simulator latency {args.latency * 1000:.0f} ms)"
    )
    print(
        "CPU in this process per run (mean): "
        + ", ".join(f"{name} {sum(cpu[name]) / k * 1000:.1f} ms" for name in wall)
    )
    print(
        f"PostgreSQL sessions opened during the measured rounds: {sessions} "
        f"({sessions / k:.1f} per pipeline run; the bare loops open none)"
    )
    print(
        f"runs: {statuses}; RunEvents per run: {events.count() / k:.1f}; "
        f"bare calls per conversation: {sum(bare_calls) / max(len(bare_calls), 1):.1f}"
    )
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"agents/|anthropic/_client|psycopg/", 30)
        stats.sort_stats("tottime").print_stats(20)
        print(
            f"CPU profile of the {k} pipeline runs (divide by {k} for per run): app, SDK client "
            "and driver functions by cumulative CPU, then the top 20 by own CPU:"
        )
        print(out.getvalue())
    log(f"logs and data under {bench.tmp}")


if __name__ == "__main__":
    main()
