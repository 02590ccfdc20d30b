"""Test settings: the project's settings on real PostgreSQL and Redis.

DATABASE_URL and TEST_REDIS_URL come from the environment (`make test` sets
them); the defaults are the loopback services `.ci/run` starts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/agencyops")
os.environ.setdefault(
    "CELERY_BROKER_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("AGENCYOPS_DATA_DIR", tempfile.mkdtemp(prefix="agencyops-test-"))

from agencyops.settings import *  # noqa: F403
from agencyops.settings import DATA_DIR, STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = Path(DATA_DIR) / "media"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Tests run without collectstatic; serve static files as in development.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Rate limits would make tests that log in often depend on each other; the tests
# of the limits turn them back on with the project's values and a Redis cache.
ACCOUNT_RATE_LIMITS = False  # type: ignore[assignment]  # allauth reads False as "all off"
# One test process needs no shared cache, and this one starts empty every run.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# WhiteNoise serves from the finders, as `runserver` would, without collectstatic.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = Path(DATA_DIR) / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
