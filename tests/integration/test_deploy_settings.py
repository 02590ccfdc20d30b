"""Production settings come from the environment and pass `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x9!k2-production-like-secret-key-with-enough-entropy-0a8f7d6c5b4e3f2a1",
    "ALLOWED_HOSTS": "agencyops.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://agencyops.example.com",
    "DATABASE_URL": "postgres://agencyops@127.0.0.1:5432/agencyops",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "SECURE_HSTS_PRELOAD": "true",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
}


# Set by tests/settings.py for the test process; a production process has none of them.
TEST_ONLY = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in TEST_ONLY}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "agencyops.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_a_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}

    result = manage("check", **env)

    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is false." in result.stderr


def test_a_malformed_boolean_is_named():
    result = manage("check", **{**PRODUCTION_ENV, "DEBUG": "maybe"})

    assert "DEBUG must be true or false, not 'maybe'" in result.stderr


@pytest.mark.parametrize(
    "setting", ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT"]
)
def test_production_defaults_are_secure(setting):
    code = f"from django.conf import settings; print(settings.{setting})"

    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION_ENV)

    assert result.stdout.strip() == "True", result.stderr


# ------------------------------------------------------------------ the shared cache
# Login rate limits count in the cache: two processes must see the same counters.
SET_PROBE = (
    "from django.core.cache import cache; from django.conf import settings; "
    "print(settings.CACHES['default']['BACKEND']); cache.set('{key}', 'seen', 60)"
)
GET_PROBE = "from django.core.cache import cache; print(cache.get('{key}'))"


def across_two_processes(key: str, **env: str) -> tuple[str, str]:
    """Set a key in one process and read it in another; return (backend, what was read)."""
    wrote = manage("shell", "--no-imports", "-c", SET_PROBE.format(key=key), **env)
    read = manage("shell", "--no-imports", "-c", GET_PROBE.format(key=key), **env)
    assert wrote.returncode == 0, wrote.stderr
    assert read.returncode == 0, read.stderr
    return wrote.stdout.strip(), read.stdout.strip()


def test_the_embedded_cache_is_a_folder_every_process_shares(tmp_path):
    env = {**PRODUCTION_ENV, "AGENCYOPS_DATA_DIR": str(tmp_path)}

    backend, read = across_two_processes("shared-probe", **env)

    assert backend == "django.core.cache.backends.filebased.FileBasedCache"
    assert read == "seen"
    assert any((tmp_path / "cache").iterdir())


def test_cache_url_puts_the_cache_in_redis():
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    key = f"shared-probe-{os.getpid()}"

    backend, read = across_two_processes(key, **{**PRODUCTION_ENV, "CACHE_URL": url})

    assert backend == "django.core.cache.backends.redis.RedisCache"
    assert read == "seen"


def test_a_cache_url_of_another_kind_is_refused_without_echoing_it():
    result = manage(
        "check", **{**PRODUCTION_ENV, "CACHE_URL": "memcached://ops:hunter2@cache:11211"}
    )

    assert result.returncode != 0
    assert "CACHE_URL must be a redis://, rediss:// or file:// URL" in result.stderr
    assert "not memcached:..." in result.stderr
    assert "hunter2" not in result.stderr


def test_the_trusted_proxy_settings_come_from_the_environment():
    code = (
        "from django.conf import settings; "
        "print(settings.ALLAUTH_TRUSTED_PROXY_COUNT, settings.ALLAUTH_TRUSTED_CLIENT_IP_HEADER)"
    )
    env = {**PRODUCTION_ENV, "TRUSTED_PROXY_COUNT": "2", "TRUSTED_CLIENT_IP_HEADER": "X-Real-IP"}

    assert manage("shell", "--no-imports", "-c", code, **PRODUCTION_ENV).stdout.split() == [
        "0",
        "None",
    ]
    assert manage("shell", "--no-imports", "-c", code, **env).stdout.split() == ["2", "X-Real-IP"]
