"""`make demo`: migrate, seed, then run the web server and one worker with beat.

It supervises its children: their output is shown with a prefix, Ctrl-C (or
SIGTERM) stops all of them, and if one dies the others are stopped too, so no
stray process is left holding the port or the broker folder.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agencyops.settings import is_loopback_host
from agents.services import model_endpoint
from clients.management.commands.seed_demo import DEMO_LOGINS, DEMO_PASSWORD

STOP_GRACE_SECONDS = 10


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


WORKER_READY = re.compile(r"celery@\S+ ready\.")


def _pump(stream: IO[bytes], prefix: str, ready: threading.Event | None = None) -> None:
    """Copy a child's output to ours with a prefix; set `ready` when the worker says so."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace")
        sys.stdout.write(f"{prefix} {line}")
        sys.stdout.flush()
        if ready is not None and WORKER_READY.search(line):
            ready.set()


class Command(BaseCommand):
    help = "Set up the embedded demo and run the web server plus one Celery worker with beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        # A shell that starts us in the background leaves SIGINT ignored, and
        # Python keeps it so; Ctrl-C must stop the demo however it was started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        host, port = options["host"], options["port"]
        if settings.DEBUG and not is_loopback_host(host):
            # ALLOWED_HOSTS cannot protect this: anyone who reaches the port can send
            # `Host: localhost` and get debug pages with the settings on them.
            raise CommandError(
                f"The demo runs with DEBUG on, so it listens on loopback only, not {host}. "
                "To serve other machines, run it as in production (README)."
            )
        if not _port_is_free(host, port):
            raise CommandError(
                f"Port {port} on {host} is already in use. Stop whatever runs there "
                f"(another `make demo`?) or choose another port: make demo PORT={port + 1}"
            )
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.stdout.write("Applying migrations...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_demo")
        call_command("seed_demo_agents")

        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = {
            "web   ": [sys.executable, manage, "runserver", f"{host}:{port}", "--noreload"],
        }
        if not settings.ANTHROPIC_API_KEY:
            # No key: runs go to the simulated model, which the demo runs too.
            sim_host, _, sim_port = settings.SIMULATOR_URL.split("://", 1)[1].partition(":")
            if not _port_is_free(sim_host, int(sim_port or 80)):
                raise CommandError(
                    f"The simulator's port ({settings.SIMULATOR_URL}) is in use. Stop what runs "
                    "there, or set SIMULATOR_URL to another loopback address."
                )
            commands["model "] = [
                sys.executable,
                "-m",
                "agents.simulator",
                "--host",
                sim_host,
                "--port",
                sim_port or "80",
                "--latency",
                "0.4",
                "--chunk-delay",
                "0.02",
            ]
        commands |= {
            "worker": [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "agencyops",
                "worker",
                "--beat",
                "--loglevel=INFO",
                # Runs wait on the model, so threads carry many at once (README,
                # "Running at scale"); SQLite keeps the demo's count modest.
                "--pool=threads",
                "--concurrency=16",
                f"--queues={settings.WORKER_QUEUES}",
            ],
        }
        # Links in emails (invitations, verification) must point at this server.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.setdefault("SITE_URL", f"http://{host}:{port}")
        children: dict[str, subprocess.Popen[bytes]] = {}
        worker_ready = threading.Event()
        try:
            for name, argv in commands.items():
                proc = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=settings.BASE_DIR,
                    start_new_session=True,  # we stop them ourselves, as a group
                )
                children[name] = proc
                stream = cast("IO[bytes]", proc.stdout)  # set by stdout=PIPE
                ready = worker_ready if name == "worker" else None
                threading.Thread(
                    target=_pump, args=(stream, f"[{name}]", ready), daemon=True
                ).start()
            self._wait_until_up(host, port, children, worker_ready)
            self._banner(host, port)
            self._supervise(children)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self._stop(children)

    def _wait_until_up(
        self,
        host: str,
        port: int,
        children: dict[str, subprocess.Popen[bytes]],
        worker_ready: threading.Event,
    ) -> None:
        """Return once the web server answers and the worker has said it is ready."""
        url = f"http://{host}:{port}/healthz"
        deadline = time.monotonic() + 90
        web_up = False
        while time.monotonic() < deadline:
            for name, proc in children.items():
                if proc.poll() is not None:
                    raise CommandError(
                        f"The {name.strip()} process exited during start-up "
                        f"(code {proc.returncode}). See its output above."
                    )
            if not web_up:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        web_up = response.status == 200
                except OSError:
                    pass
            if web_up and worker_ready.is_set():
                return
            time.sleep(0.3)
        what = "the web server" if not web_up else "the worker"
        raise CommandError(f"Start-up took over 90 seconds: {what} is not ready. See above.")

    def _banner(self, host: str, port: int) -> None:
        width = max(len(login.email) for login in DEMO_LOGINS)
        lines = [
            "",
            "=" * 72,
            f"  AgencyOps is running:  http://{host}:{port}/",
            "",
            f"  Log in with any of these (password: {DEMO_PASSWORD}):",
            *(f"    {login.email.ljust(width)}  {login.what}" for login in DEMO_LOGINS),
            "",
            f"  Operator admin: http://{host}:{port}/admin/ (as alice)",
            f"  Model calls go to: {model_endpoint()[1]}",
            "  Emails (signup verification, invitations) are printed below by [web].",
            "  Press Ctrl-C to stop everything the demo started.",
            "=" * 72,
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _supervise(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        while True:
            for name, proc in children.items():
                if proc.poll() is not None:
                    raise CommandError(
                        f"The {name.strip()} process stopped (code {proc.returncode}); "
                        "stopping the rest. See its output above."
                    )
            time.sleep(0.5)

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for proc in children.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if children:
            self.stdout.write("Stopped: " + ", ".join(name.strip() for name in children) + ".")
