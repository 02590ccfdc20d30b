"""`make demo`'s command on the embedded default: starts, serves the demo data, stops cleanly.

It runs the real `manage.py demo` in a subprocess on SQLite and the filesystem
broker in a temporary folder, exactly as a fresh clone would.
"""

from __future__ import annotations

import http.cookiejar
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_using(marker: str) -> list[int]:
    """Pids whose environment mentions `marker` (our temporary data folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def start_demo(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "ANTHROPIC_",
                "SIMULATOR_URL",
                "DATABASE_URL",
                "CELERY_",
                "DJANGO_SETTINGS",
                "SECURE_",
                "SESSION_",
                "CSRF_",
                "DEBUG",
                "SECRET_KEY",
            )
        )
    }
    env |= {
        "AGENCYOPS_DATA_DIR": str(data_dir),
        # As `make demo` sets it: DEBUG is off unless asked for.
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
        "SIMULATOR_URL": f"http://127.0.0.1:{free_port()}",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 90) -> str:
    """Return the demo's output up to the first line matching `pattern`, or fail."""
    lines = _line_queue(proc)
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:  # the process closed its output
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"did not see {pattern!r}; output:\n{''.join(seen)}")


_queues: dict[int, queue.Queue[str | None]] = {}


def _line_queue(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """One reader thread per process feeds its lines into a queue (None at the end)."""
    if proc.pid not in _queues:
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        _queues[proc.pid] = lines
    return _queues[proc.pid]


def log_in(base: str, email: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {"login": email, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 (http on loopback)
        f"{base}/accounts/login/", data=body, headers={"Referer": f"{base}/accounts/login/"}
    )
    opener.open(request).read()
    return opener


def stop(proc: subprocess.Popen[str]) -> str:
    """Press Ctrl-C on the demo and return the rest of its output."""
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    lines = _line_queue(proc)
    rest = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    return "".join(rest)


def test_demo_starts_serves_the_demo_agency_and_stops_everything(tmp_path):
    port = free_port()
    proc = start_demo(tmp_path, port)
    try:
        banner = read_until(proc, r"Press Ctrl-C")
        assert f"http://127.0.0.1:{port}/" in banner
        # The banner waits for the worker (with embedded beat) as well as the web server.
        assert re.search(r"celery@\S+ ready", banner)
        assert "beat: Starting" in banner
        email = re.search(r"(\S+@northwind\.test)\s+owner", banner).group(1)
        password = re.search(r"password: (\S+)\)", banner).group(1)

        opener = log_in(f"http://127.0.0.1:{port}", email, password)
        dashboard = opener.open(f"http://127.0.0.1:{port}/").read().decode()
        assert "Northwind Digital" in dashboard
        clients = opener.open(f"http://127.0.0.1:{port}/a/northwind/clients/").read().decode()
        assert "Acme Bakery" in clients
        assert "Kiwi Cycles" in clients
        assert (tmp_path / "agencyops.sqlite3-wal").exists()  # WAL mode is on

        # Run now on a demo agent: the worker runs it against the simulated model.
        base = f"http://127.0.0.1:{port}"
        agents = opener.open(f"{base}/a/northwind/agents/").read().decode()
        agent_path = re.search(r'href="(/a/northwind/agents/[0-9a-f-]+/)"', agents).group(1)
        detail = opener.open(base + agent_path).read().decode()
        assert "Simulated model at" in detail
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', detail).group(1)
        run_now = urllib.request.Request(  # noqa: S310 (http on loopback)
            f"{base}{agent_path}run/",
            data=urllib.parse.urlencode({"csrfmiddlewaretoken": token}).encode(),
            headers={"Referer": base + agent_path},
        )
        run_url = opener.open(run_now).geturl()
        assert "/a/northwind/runs/" in run_url
        deadline = time.monotonic() + 60
        while "Succeeded" not in (page := opener.open(run_url).read().decode()):
            assert time.monotonic() < deadline, page
            time.sleep(0.5)
        assert "<h1>SEO audit</h1>" in page
    finally:
        output = stop(proc)

    assert proc.returncode == 0, output
    assert "Stopped: web, model, worker." in output
    time.sleep(0.5)
    assert processes_using(str(tmp_path)) == []


def test_a_second_run_reuses_the_data_without_duplicates(tmp_path):
    for _ in range(2):
        proc = start_demo(tmp_path, free_port())
        try:
            read_until(proc, r"Press Ctrl-C")
        finally:
            stop(proc)

    import sqlite3

    with sqlite3.connect(tmp_path / "agencyops.sqlite3") as db:
        assert db.execute("select count(*) from clients_agency").fetchone() == (1,)
        assert db.execute("select count(*) from clients_client").fetchone() == (4,)
        assert db.execute("select count(*) from clients_user").fetchone() == (3,)


def test_a_busy_port_is_reported_clearly(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start_demo(tmp_path, port)
        output, _ = proc.communicate(timeout=60)

    assert proc.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in output


def test_the_demo_with_debug_on_refuses_to_listen_beyond_loopback(tmp_path):
    proc = start_demo(tmp_path, free_port(), "--host", "0.0.0.0")  # noqa: S104
    output, _ = proc.communicate(timeout=60)

    assert proc.returncode != 0
    assert "listens on loopback only, not 0.0.0.0" in output
    assert not (tmp_path / "agencyops.sqlite3").exists()  # stopped before setting up
