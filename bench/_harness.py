"""Shared plumbing for the benchmarks: a throwaway database and broker, child processes,
seeding through the app's own functions, and figures.

Every benchmark builds a `Bench`, calls `prepare()` (drop and recreate the
`agencyops_bench` database, migrate it, flush Redis db 14), starts the simulated
Messages API, then `setup_django()`: Django in the benchmark process, like every
child process, only ever sees the benchmark database and broker. Children run in
their own process groups and are stopped (TERM, then KILL) on the way out.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.models import Agent

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CELERY = str(Path(sys.executable).with_name("celery"))

BENCH_DB = "agencyops_bench"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
BENCH_DB_URL = f"{PG_SERVER}/{BENCH_DB}"
BROKER_URL = "redis://127.0.0.1:6379/14"

# Settings the benchmark decides; a NAME_FILE variant in the caller's environment
# would win over NAME (see agencyops/settings.py env_str), so those are dropped too.
OWN_SETTINGS = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SIMULATOR_URL",
    "DEBUG",
    "SECRET_KEY",
    "AGENCYOPS_DATA_DIR",
    "DATABASE_POOL_MAX_SIZE",
    "DATABASE_CONN_MAX_AGE",
    "LOG_LEVEL",
    "TIME_ZONE",
)


def log(message: str) -> None:
    """Progress goes to stderr; the figures go to stdout."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class Bench:
    """One benchmark's environment: temp folder, env for children, the children themselves."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"agencyops-bench-{name}-"))
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.sim_url = ""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("ANTHROPIC_")
            and key not in OWN_SETTINGS
            and key.removesuffix("_FILE") not in OWN_SETTINGS
        }
        env.update(
            DJANGO_SETTINGS_MODULE="agencyops.settings",
            DATABASE_URL=BENCH_DB_URL,
            CELERY_BROKER_URL=BROKER_URL,
            # Production-like: no query log kept in memory, no debug pages.
            DEBUG="false",
            SECRET_KEY="bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",  # noqa: S106
            AGENCYOPS_DATA_DIR=str(self.tmp / "data"),
            DATABASE_POOL_MAX_SIZE="0",
            LOG_LEVEL="INFO",
            TIME_ZONE="UTC",
            TZ="UTC",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        # A TERM to the benchmark runs the `finally` that stops the children.
        signal.signal(signal.SIGTERM, _raise_exit)
        signal.signal(signal.SIGHUP, _raise_exit)

    # ------------------------------------------------------------ database and broker

    def prepare(self) -> None:
        """Drop and recreate the benchmark database, migrate it, flush the broker's db."""
        import psycopg
        import redis
        from psycopg import sql

        log(f"recreating database {BENCH_DB}")
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            name = sql.Identifier(BENCH_DB)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        log("migrating")
        subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
            [PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
            cwd=self.tmp,
            env=self.env,
            check=True,
        )
        redis.Redis.from_url(BROKER_URL).flushdb()

    def setup_django(self) -> None:
        """Point this process at the benchmark database, then start Django in it."""
        for key in list(os.environ):
            if key not in self.env:
                del os.environ[key]
        os.environ.update(self.env)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()

    # ------------------------------------------------------------ child processes

    def start(
        self, name: str, argv: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own process group, its output in <tmp>/<name>.log."""
        with (self.tmp / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 (argv built by the benchmark)
                list(argv),
                cwd=self.tmp,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def wait_for_log(self, name: str, pattern: str, timeout: float = 120.0) -> None:
        """Wait until the child's log matches `pattern`; fail if it exits first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        path = self.log_path(name)
        while time.monotonic() < deadline:
            if regex.search(path.read_text(errors="replace")):
                return
            if self.children[name].poll() is not None:
                raise RuntimeError(f"{name} exited early; see {path}")
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not log /{pattern}/ within {timeout:.0f} s; see {path}")

    def stop(self, name: str, timeout: float = 20.0) -> None:
        proc = self.children.get(name)
        if proc is None or proc.poll() is not None:
            return
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(10)

    def stop_all(self) -> None:
        """Stop every child, most recently started first; KILL what TERM does not end."""
        for name in reversed(list(self.children)):
            try:
                self.stop(name)
            except Exception as exc:  # keep stopping the others
                log(f"could not stop {name}: {exc!r}")
        for proc in self.children.values():
            # Anything a child left behind in its group.
            _signal_group(proc, signal.SIGKILL)

    # ------------------------------------------------------------ the simulated model

    def start_simulator(self, latency: float) -> str:
        port = free_port()
        self.start(
            "simulator",
            [PYTHON, "-m", "agents.simulator", "--port", str(port), "--latency", f"{latency}"],
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_sim/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or self.children["simulator"].poll() is not None:
                    raise RuntimeError(
                        f"the simulator did not start; see {self.log_path('simulator')}"
                    ) from None
                time.sleep(0.1)
        self.sim_url = url
        self.env["SIMULATOR_URL"] = url
        return url

    def add_script(self, name: str, turns: list[dict[str, Any]]) -> None:
        """Register a scripted conversation, played by prompts containing [sim:script=NAME]."""
        request = urllib.request.Request(  # noqa: S310 (our loopback simulator)
            f"{self.sim_url}/_sim/scripts",
            data=json.dumps({"name": name, "turns": turns}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    # ------------------------------------------------------------ celery

    def worker_queues(self) -> str:
        """`schedule,runs`, plus Celery's default queue if some task is not routed yet."""
        from django.conf import settings

        routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
        tasks = ("agents.tasks.execute_run", "agents.tasks.fire_schedule")
        routed = isinstance(routes, dict) and all(task in routes for task in tasks)
        return "schedule,runs" if routed else "schedule,runs,celery"

    def start_worker(
        self, name: str, concurrency: int, queues: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = self.start(
            name,
            [
                CELERY,
                "-A",
                "agencyops",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(concurrency),
                "-Q",
                queues,
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
            env,
        )
        self.wait_for_log(name, r"celery@\S+ ready|\S+@\S+ ready\.")
        return proc

    def start_beat(self) -> subprocess.Popen[bytes]:
        proc = self.start(
            "beat",
            [
                CELERY,
                "-A",
                "agencyops",
                "beat",
                "--loglevel",
                "INFO",
                "--pidfile",
                str(self.tmp / "beat.pid"),
                "--schedule",
                str(self.tmp / "beat-schedule"),
            ],
        )
        self.wait_for_log("beat", r"beat: Starting")
        return proc


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# ------------------------------------------------------------------ seeding


def seed_agents(
    count: int,
    instructions: str,
    cron_for: Callable[[int], str] | None = None,
    agencies: int = 1,
    clients_per_agency: int = 1,
    model: str = "claude-sonnet-4-6",
) -> list[Agent]:
    """Create `count` agents, each with version 1, the bulk way.

    Rows are built as `services.save_agent` would build them (the version's
    definition comes from `services.definition_of`); agents are given no tools, so
    a scripted tool_use is answered "No tool named ..." and no sandbox starts.
    With `cron_for`, agent i gets schedule `cron_for(i)` and its beat task (see
    `sync_schedules`).
    """
    from django.db import transaction

    from agents.models import Agent, AgentVersion, ModelPrice
    from agents.services import definition_of
    from clients.models import Agency, Client

    price = ModelPrice.objects.get(model=model)
    has_tools = any(f.name == "tools" for f in Agent._meta.get_fields())
    with transaction.atomic():
        agency_rows = Agency.objects.bulk_create(
            [Agency(name=f"Bench agency {a}", slug=f"bench-{a}") for a in range(agencies)]
        )
        client_rows = Client.objects.bulk_create(
            [
                Client(agency=agency, name=f"Bench client {a}-{c}", timezone="UTC")
                for a, agency in enumerate(agency_rows)
                for c in range(clients_per_agency)
            ]
        )
        agents = []
        for i in range(count):
            client = client_rows[i % len(client_rows)]
            agent = Agent(
                agency=client.agency,
                client=client,
                name=f"Bench agent {i}",
                instructions=instructions,
                model=price,
                schedule=cron_for(i) if cron_for else "",
            )
            if has_tools:
                setattr(agent, "tools", [])  # noqa: B010 (a field the working tree may lack)
            agents.append(agent)
        agents[0].full_clean()
        Agent.objects.bulk_create(agents, batch_size=2000)
        AgentVersion.objects.bulk_create(
            [
                AgentVersion(agency=a.agency, agent=a, number=1, definition=definition_of(a))
                for a in agents
            ],
            batch_size=2000,
        )
        if cron_for:
            sync_schedules(agents)
    return agents


def sync_schedules(agents: list[Agent]) -> None:
    """Give every agent the beat task `agents.scheduling.sync_agent_schedule` gives it.

    The real function runs for the first agent of each distinct cron; every other
    agent gets a copy of that row with its own name, description and kwargs, in
    bulk. `check_schedule_rows` then confirms the copies are what the function
    itself would write.
    """
    from django_celery_beat.models import PeriodicTask

    from agents.scheduling import sync_agent_schedule, task_name

    templates: dict[str, tuple[Agent, PeriodicTask]] = {}
    for agent in agents:
        if agent.schedule not in templates:
            task = sync_agent_schedule(agent)
            if task is None:
                raise RuntimeError(f"sync_agent_schedule made no task for {agent.schedule!r}")
            templates[agent.schedule] = (agent, task)
    fields = [f for f in PeriodicTask._meta.concrete_fields if not f.primary_key]
    rows = []
    for agent in agents:
        model_agent, model_task = templates[agent.schedule]
        if agent is model_agent:
            continue
        row = PeriodicTask(**{f.attname: getattr(model_task, f.attname) for f in fields})
        row.name = task_name(agent)
        kwargs = json.loads(model_task.kwargs or "{}")
        row.kwargs = json.dumps(
            {k: agent.pk if v == model_agent.pk else v for k, v in kwargs.items()}
        )
        row.description = model_task.description.replace(
            f"{model_agent.name} for {model_agent.client.name}",
            f"{agent.name} for {agent.client.name}",
        )
        rows.append(row)
    PeriodicTask.objects.bulk_create(rows, batch_size=2000)


def check_schedule_rows(agents: Sequence[Agent], sample: int = 25) -> list[str]:
    """Run the real `sync_agent_schedule` on a sample; return the fields it had to change."""
    from django.db import transaction
    from django_celery_beat.models import PeriodicTask

    from agents.scheduling import sync_agent_schedule, task_name

    ignored = {"id", "date_changed", "last_run_at"}
    fields = [f.attname for f in PeriodicTask._meta.concrete_fields if f.attname not in ignored]
    step = max(1, len(agents) // sample)
    changed: set[str] = set()
    for agent in agents[::step]:
        before = PeriodicTask.objects.filter(name=task_name(agent)).values(*fields).first()
        with transaction.atomic():
            sync_agent_schedule(agent)
        after = PeriodicTask.objects.filter(name=task_name(agent)).values(*fields).first()
        if before is None or after is None:
            changed.add("(row missing)")
            continue
        changed.update(k for k in fields if before[k] != after[k])
    return sorted(changed)


def make_runs(agents: Iterable[Agent], per_agent: int = 1) -> list[int]:
    """Queued manual runs of each agent's version 1, not handed to any worker."""
    from agents.models import AgentVersion, Run

    versions = {
        v.agent_id: v for v in AgentVersion.objects.filter(number=1).select_related("agent")
    }
    rows = [
        Run(agency_id=a.agency_id, agent=a, version=versions[a.pk], trigger=Run.Trigger.MANUAL)
        for a in agents
        for _ in range(per_agent)
    ]
    return [run.pk for run in Run.objects.bulk_create(rows)]


def scripted_turns(
    calls: int, final_text: str = "# Report\nAll checks passed."
) -> list[dict[str, Any]]:
    """`calls - 1` tool_use turns of a tool no agent has, then a final text turn."""
    turns: list[dict[str, Any]] = [
        {
            "text": f"Step {n + 1}: looking something up.",
            "tool_uses": [{"name": "bench_lookup", "input": {"step": n + 1}}],
        }
        for n in range(calls - 1)
    ]
    turns.append({"text": final_text})
    return turns


# ------------------------------------------------------------------ figures


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> str:
    """`n, mean, p50, p99, max` in seconds, or `n=0`."""
    if not values:
        return "n=0"
    mean = sum(values) / len(values)
    return (
        f"n={len(values)} mean={mean:.3f}s p50={percentile(values, 50):.3f}s "
        f"p99={percentile(values, 99):.3f}s max={max(values):.3f}s"
    )


def next_minute(after: datetime) -> datetime:
    """The first whole minute at or after `after`."""
    floor = after.replace(second=0, microsecond=0)
    return floor if floor == after else floor + timedelta(minutes=1)


def sleep_until(moment: datetime) -> None:
    while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(min(left, 1.0))


# ------------------------------------------------------------------ PostgreSQL counters


def _pg_value(query: str) -> int:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute(query, (BENCH_DB,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def pg_sessions() -> int:
    """Sessions (connections) PostgreSQL has opened to the benchmark database so far."""
    return _pg_value("SELECT sessions FROM pg_stat_database WHERE datname = %s")


def pg_connections() -> int:
    """Connections open to the benchmark database right now."""
    return _pg_value("SELECT count(*) FROM pg_stat_activity WHERE datname = %s")


# ------------------------------------------------------------------ CPU accounting

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) a process has used, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def _db_backends(db_name: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving `db_name` (by process title)."""
    found: dict[int, float] = {}
    marker = f" {db_name} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"postgres:") and marker in cmdline:
            cpu = _proc_cpu(int(entry.name))
            if cpu is not None:
                found[int(entry.name)] = cpu
    return found


@dataclass
class CpuMeter:
    """CPU used over a window by named processes, the benchmark DB's backends, the machine.

    A thread samples once a second so that PostgreSQL backends that come and go
    during the window are counted too.
    """

    pids: dict[str, int]
    db_name: str = BENCH_DB
    _start: dict[str, float] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)
    _db_start: dict[int, float] = field(default_factory=dict)
    _db_last: dict[int, float] = field(default_factory=dict)
    _machine_start: tuple[float, float] = (0.0, 0.0)
    _machine_end: tuple[float, float] = (0.0, 0.0)
    _wall_start: float = 0.0
    _wall_end: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    peak_db_backends: int = 0

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self._last[name] = cpu
        backends = _db_backends(self.db_name)
        self._db_last.update(backends)
        self.peak_db_backends = max(self.peak_db_backends, len(backends))

    def start(self) -> None:
        self._wall_start = time.monotonic()
        self._machine_start = _machine_cpu()
        for name, pid in self.pids.items():
            self._start[name] = _proc_cpu(pid) or 0.0
        self._db_start = _db_backends(self.db_name)
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="cpu-meter", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def stop(self) -> None:
        self._sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._machine_end = _machine_cpu()
        self._wall_end = time.monotonic()

    def lines(self) -> list[str]:
        wall = max(self._wall_end - self._wall_start, 1e-9)
        parts = [
            f"{name} {self._last.get(name, 0.0) - self._start.get(name, 0.0):.1f}s"
            for name in self.pids
        ]
        db = sum(cpu - self._db_start.get(pid, 0.0) for pid, cpu in self._db_last.items())
        parts.append(f"postgres backends of {self.db_name} {db:.1f}s")
        busy = self._machine_end[0] - self._machine_start[0]
        total = self._machine_end[1] - self._machine_start[1]
        cores = os.cpu_count() or 1
        return [
            f"CPU over the {wall:.0f} s window: " + ", ".join(parts),
            f"machine CPU busy: {busy:.0f}s of {total:.0f}s "
            f"({100 * busy / max(total, 1e-9):.0f}% of {cores} cores, "
            "all processes including any other load on the machine)",
        ]


def run_bench(name: str, run: Callable[[Bench, Any], None], args: Any) -> None:
    """Run one benchmark, always stopping what it started; benchmarks exit 0 (they print)."""
    bench = Bench(name)
    try:
        run(bench, args)
    finally:
        bench.stop_all()
    sys.exit(0)
