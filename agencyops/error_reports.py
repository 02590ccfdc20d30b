"""What debug pages and error reports may show of settings and the environment."""

from __future__ import annotations

import re

from django.views.debug import SafeExceptionReporterFilter


class SafeReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, also hiding connection URLs and cache locations.

    Django hides names with KEY, SECRET, PASS and the like, but DATABASE_URL,
    CELERY_BROKER_URL and CACHE_URL (settings, and under runserver request.META,
    which copies the environment) carry passwords without saying so.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN|LOCATION", flags=re.I
    )
