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
