"""Settings for AgencyOps, read from environment variables only.

Every default is the embedded development setup (SQLite in WAL mode, Celery's
filesystem broker, a file cache, console email), except DEBUG: it is off unless
set, and `make demo` sets it for itself. With DEBUG off a process refuses to
start without a real SECRET_KEY; with DEBUG on it refuses any host but loopback.
"""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

# Lets generic Django classes (ModelForm[Client], QuerySet[M]) be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """Return the variable, or the contents of the file named by NAME_FILE."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def is_loopback_host(host: str) -> bool:
    """Return whether an ALLOWED_HOSTS entry names only this machine."""
    name = host.strip().lower()
    if name in {"localhost", "testserver"}:
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------ core
# Off unless asked for: a DEBUG error page shows settings, the request and (under
# runserver) the environment to whoever triggers it. `make demo` turns it on.
DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("AGENCYOPS_DATA_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is false. Set SECRET_KEY to a long random "
            "string, or DEBUG=true for local development (`make demo` sets it itself)."
        )
    # Development only: a fixed key so sessions survive restarts of `make demo`.
    SECRET_KEY = "dev-insecure-agencyops-key-do-not-use-in-production-0123456789"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
# A host name beyond loopback means the server is meant to be reached from
# elsewhere, where a debug page would hand out DATABASE_URL and the other secrets.
_public_hosts = [host for host in ALLOWED_HOSTS if not is_loopback_host(host)]
if DEBUG and _public_hosts:
    raise ImproperlyConfigured(
        f"DEBUG is true but ALLOWED_HOSTS names {', '.join(_public_hosts)}: debug pages "
        "would show settings and secrets to anyone reaching it. Set DEBUG=false (and "
        "SECRET_KEY) to serve other hosts, or keep ALLOWED_HOSTS to localhost, "
        "127.0.0.1 and [::1]."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "django_htmx",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "clients",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "agencyops.middleware.HtmxMessagesMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "clients.tenancy.AgencyMiddleware",
    "clients.tenancy.ClientViewerReadOnlyMiddleware",
]

# Form fields render through templates/django/forms/field.html (our label markup).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

ROOT_URLCONF = "agencyops.urls"
WSGI_APPLICATION = "agencyops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clients.context_processors.tenancy",
            ],
        },
    },
]

# ------------------------------------------------------------------ database
# SQLite is the embedded default; the web server, the worker and beat share it,
# so WAL and IMMEDIATE transactions keep writers from failing with "locked".
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'agencyops.sqlite3'}")
_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=0))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif env_int("DATABASE_POOL_MAX_SIZE", 0) > 0:
    # A worker on the threads pool carries hundreds of runs, each of which only
    # touches the database between model calls; a pool shared by its threads keeps
    # them within PostgreSQL's connection limit (runs return their connection after
    # each write, see agents/services.py).
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "pool": {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 0),
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 60),
        }
    }
else:
    _db["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------ cache
# Login rate limits count in the cache, so every process must share it: Redis in
# production (CACHE_URL), else a folder under DATA_DIR that the web server and the
# worker on this machine share. A per-process memory cache would let each process
# count separately.
_cache_url = env_str("CACHE_URL")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES: dict[str, Any] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
        }
    }
elif not _cache_url or _cache_url.startswith("file://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": _cache_url.removeprefix("file://") or str(DATA_DIR / "cache"),
            # Above this many files the backend evicts a third of them, rate-limit
            # counters included; keep it well above what a small install writes.
            "OPTIONS": {"MAX_ENTRIES": 10_000},
        }
    }
else:
    # Name only the scheme: the rest of the URL may hold a password.
    raise ImproperlyConfigured(
        f"CACHE_URL must be a redis://, rediss:// or file:// URL, not "
        f"{_cache_url.partition(':')[0]}:..."
    )

# ------------------------------------------------------------------ auth
AUTH_USER_MODEL = "clients.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "clients.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "clients.forms.AgencySignupForm"}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[AgencyOps] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# Open signup creates a new agency; with it off, only invited people can sign up.
ACCOUNT_ALLOW_REGISTRATION = env_bool("ACCOUNT_ALLOW_REGISTRATION", True)
# Failed logins count per account and client address together (the adapter's
# key, clients/adapters.py): a stranger's guesses cannot lock alice out from
# elsewhere, and one account's failures never lock out others behind the same
# address. Every login POST from one address, right or wrong, stays under 30 a
# minute, which holds password spraying from one address back (README).
ACCOUNT_RATE_LIMITS: dict[str, str] = {"login_failed": "5/5m/key", "login": "30/m/ip"}
# The client address those limits count against. With neither set, allauth uses
# REMOTE_ADDR and ignores X-Forwarded-For, which any client can forge; behind a
# reverse proxy that appends to X-Forwarded-For, set the number of such proxies.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("TRUSTED_CLIENT_IP_HEADER") or None
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "AgencyOps")

INVITATION_TTL_DAYS = env_int("INVITATION_TTL_DAYS", 7)

# ------------------------------------------------------------------ email
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "AgencyOps <noreply@agencyops.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# ------------------------------------------------------------------ i18n
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# ------------------------------------------------------------------ static and uploads
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The charts' plotly.js comes from the installed plotly package (no CDN).
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "agencyops.staticfinders.PlotlyFinder",
]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Uploads (client logos) are tenant data: they are served through views that
# check the agency, never from a public MEDIA_URL.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# ------------------------------------------------------------------ security
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Debug pages and error reports also hide connection URLs (DATABASE_URL, CACHE_URL,
# CELERY_BROKER_URL), which carry passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "agencyops.error_reports.SafeReporterFilter"
if env_bool("USE_X_FORWARDED_PROTO", False):
    # Only behind a reverse proxy that sets this header itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# No inline scripts anywhere: htmx and page scripts are files served from 'self'.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    # plotly.js (charts) sets two inline styles it cannot be told not to: the
    # stylesheet of the map library it bundles, and an empty style attribute on
    # a heatmap's colour bar. Each is allowed by its exact hash, nothing else.
    "style-src": [
        CSP.SELF,
        "'unsafe-hashes'",
        "'sha256-ji27qzEtxXZW+7dun6UwjHXJ18e6WAin1VvNtkzIE/o='",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    ],
    "img-src": [CSP.SELF, "data:"],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# ------------------------------------------------------------------ model endpoint
# With no API key, runs go to the simulated Messages API (`make demo` starts it);
# with ANTHROPIC_API_KEY set they go to Anthropic, or to ANTHROPIC_BASE_URL if set.
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
SIMULATOR_URL = env_str("SIMULATOR_URL", "http://127.0.0.1:8765").rstrip("/")
ANTHROPIC_BASE_URL = env_str("ANTHROPIC_BASE_URL") or ("" if ANTHROPIC_API_KEY else SIMULATOR_URL)

# ------------------------------------------------------------------ runs
# Charged per hour a run takes, on top of its model cost (USD).
RUNTIME_USD_PER_HOUR = Decimal(env_str("RUNTIME_USD_PER_HOUR", "0.08"))
# A scheduled fire that starts later than this after its slot counts as missed
# (the scheduler or the workers were down); the agent's missed-fire policy decides.
MISSED_FIRE_GRACE_SECONDS = env_int("MISSED_FIRE_GRACE_SECONDS", 300)
# A running run whose worker has written nothing for this long lost its worker.
RUN_HEARTBEAT_TIMEOUT_SECONDS = env_int("RUN_HEARTBEAT_TIMEOUT_SECONDS", 300)
# Inbound webhooks: a signed request older or newer than this is refused.
WEBHOOK_TOLERANCE_SECONDS = env_int("WEBHOOK_TOLERANCE_SECONDS", 300)
WEBHOOK_MAX_BYTES = env_int("WEBHOOK_MAX_BYTES", 65_536)

# ------------------------------------------------------------------ outbound requests
# URLs people enter (alert channels, later MCP servers and web fetch) may reach only
# public addresses (agencyops/outbound.py). A self-hosted install whose receivers sit
# on loopback or a private network sets this; link-local (cloud metadata),
# multicast and unspecified addresses stay refused even then.
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", False)

# ------------------------------------------------------------------ sandbox
# Tools run in a bubblewrap sandbox, one fresh workspace per run under this folder.
SANDBOX_DIR = Path(env_str("SANDBOX_DIR", str(DATA_DIR / "sandbox")))
# Without bubblewrap, tools refuse to run unless the operator sets this; then they
# run as plain processes of the worker, with the same limits but no isolation.
SANDBOX_ALLOW_UNSANDBOXED = env_bool("SANDBOX_ALLOW_UNSANDBOXED", False)
SANDBOX_CPU_SECONDS = env_int("SANDBOX_CPU_SECONDS", 10)
SANDBOX_MEMORY_MB = env_int("SANDBOX_MEMORY_MB", 512)
SANDBOX_WALL_SECONDS = env_int("SANDBOX_WALL_SECONDS", 30)
SANDBOX_OUTPUT_BYTES = env_int("SANDBOX_OUTPUT_BYTES", 65_536)
SANDBOX_FILE_MB = env_int("SANDBOX_FILE_MB", 10)
SANDBOX_WORKSPACE_MB = env_int("SANDBOX_WORKSPACE_MB", 100)
# Processes (and threads) one tool call may have at once, all of its sandbox together.
SANDBOX_PROCESSES = env_int("SANDBOX_PROCESSES", 64)
# A run's worker is judged lost after RUN_HEARTBEAT_TIMEOUT_SECONDS of silence;
# one tool call or one model call (120 s) must never be that long.
if max(SANDBOX_WALL_SECONDS, 120) + 60 > RUN_HEARTBEAT_TIMEOUT_SECONDS:
    raise ImproperlyConfigured(
        "RUN_HEARTBEAT_TIMEOUT_SECONDS must be at least 60 s more than both "
        "SANDBOX_WALL_SECONDS and the 120 s model-call timeout."
    )
# Files left in the workspace are kept as artifacts up to these sizes.
ARTIFACT_MAX_FILE_BYTES = env_int("ARTIFACT_MAX_FILE_BYTES", 1_048_576)
ARTIFACT_MAX_RUN_BYTES = env_int("ARTIFACT_MAX_RUN_BYTES", 5_242_880)

# ------------------------------------------------------------------ celery
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
    # The transport fails on a missing folder; create them wherever settings load.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "agencyops.beat:Scheduler"
# Fires and runs travel on separate queues. One worker consuming both (the demo,
# small installs) serves them in arrival order; a worker dedicated to "schedule"
# keeps fires on time however busy the run workers are (README, "Running at scale").
CELERY_TASK_ROUTES = {
    "agents.tasks.execute_run": {"queue": "runs"},
    "agents.tasks.fire_schedule": {"queue": "schedule"},
    "agents.tasks.sweep_stuck_runs": {"queue": "schedule"},
    "agents.tasks.evaluate_alerts": {"queue": "schedule"},
    # A dream is model work like a run; its fire is a schedule message.
    "agents.tasks.execute_dream": {"queue": "runs"},
    "agents.tasks.fire_dream": {"queue": "schedule"},
}
WORKER_QUEUES = "runs,schedule,celery"

# ------------------------------------------------------------------ logging
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
