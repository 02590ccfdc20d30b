"""The typed environment helpers behind settings.py, and what DEBUG may be."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.views.debug import get_default_exception_reporter_filter

from agencyops.settings import env_bool, env_int, env_list, env_str, is_loopback_host

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("No", False), ("", True)],
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)

    assert env_bool("FLAG", True) is expected


def test_env_bool_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("FLAG", "perhaps")

    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false, not 'perhaps'"):
        env_bool("FLAG", False)


def test_env_int_names_a_bad_value(monkeypatch):
    monkeypatch.setenv("N", "ten")

    with pytest.raises(ImproperlyConfigured, match="N must be a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "10")
    assert env_int("N", 1) == 10


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.test, b.test ,,")

    assert env_list("HOSTS", "") == ["a.test", "b.test"]
    assert env_list("UNSET_HOSTS_X", "x,y") == ["x", "y"]


def test_env_str_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("API_KEY", "from-env")
    monkeypatch.setenv("API_KEY_FILE", str(secret))

    assert env_str("API_KEY") == "from-a-file"


def test_every_helper_reads_a_file_variant(monkeypatch, tmp_path):
    (tmp_path / "flag").write_text("false\n")
    (tmp_path / "n").write_text("42\n")
    (tmp_path / "hosts").write_text("a.test,b.test\n")
    monkeypatch.setenv("FLAG_FILE", str(tmp_path / "flag"))
    monkeypatch.setenv("N_FILE", str(tmp_path / "n"))
    monkeypatch.setenv("HOSTS_FILE", str(tmp_path / "hosts"))

    assert env_bool("FLAG", True) is False
    assert env_int("N", 1) == 42
    assert env_list("HOSTS", "") == ["a.test", "b.test"]


# ------------------------------------------------------------------ DEBUG
def load_settings(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import agencyops.settings in a fresh process with only `env` set, as a fresh clone."""
    code = "import agencyops.settings as s; print(s.DEBUG, s.ALLOWED_HOSTS)"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "AGENCYOPS_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_is_off_unless_asked_for(tmp_path):
    result = load_settings(tmp_path, SECRET_KEY="k" * 50)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("False ")


def test_with_neither_debug_nor_a_secret_key_it_says_what_to_set(tmp_path):
    result = load_settings(tmp_path)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false." in result.stderr
    assert "or DEBUG=true for local development" in result.stderr


def test_debug_on_loopback_hosts_starts_without_a_secret_key(tmp_path):
    hosts = "localhost,127.0.0.1,[::1],::1,testserver,127.0.0.2"

    result = load_settings(tmp_path, DEBUG="true", ALLOWED_HOSTS=hosts)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True ")


@pytest.mark.parametrize(
    "hosts",
    # "0.0.0.0" is a host name a request could carry here, not an address bound to.
    ["ops.example.com", "*", "localhost,10.0.0.5", ".example.com", "0.0.0.0"],  # noqa: S104
)
def test_debug_with_a_host_beyond_loopback_refuses_to_start(tmp_path, hosts):
    result = load_settings(tmp_path, DEBUG="true", SECRET_KEY="k" * 50, ALLOWED_HOSTS=hosts)

    assert result.returncode != 0
    assert "DEBUG is true but ALLOWED_HOSTS names" in result.stderr
    assert hosts.split(",")[-1] in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("[::1]", True),
        ("::1", True),
        ("testserver", True),
        ("localhost.example.com", False),
        ("10.0.0.1", False),
        ("[::]", False),
        ("*", False),
        (".localhost", False),
    ],
)
def test_is_loopback_host(host, loopback):
    assert is_loopback_host(host) is loopback


def test_make_demo_turns_debug_on_for_itself_and_its_children():
    # `make -n` prints the recipe without running it; the demo's children inherit
    # its environment, so DEBUG=true reaches the web server and the worker too.
    result = subprocess.run(
        ["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    demo = [line for line in result.stdout.splitlines() if "manage.py demo" in line]
    assert demo, result.stdout + result.stderr
    assert demo[0].startswith("DEBUG=true ")


def test_error_reports_hide_connection_urls(settings):
    # DATABASE_URL and the broker and cache URLs carry passwords without saying so.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://:hunter2@cache:6379/1",
        }
    }
    reporter = get_default_exception_reporter_filter()
    request = RequestFactory().get("/", DATABASE_URL="postgres://ops:hunter2@db/ops")

    shown = repr(reporter.get_safe_settings()) + repr(reporter.get_safe_request_meta(request))

    assert settings.DATABASE_URL
    assert settings.DATABASE_URL not in shown
    assert "hunter2" not in shown
    assert "CELERY_BROKER_URL" in shown  # named, with its value hidden
