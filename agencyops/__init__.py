"""The AgencyOps Django project: settings, URLs and the Celery app."""

from __future__ import annotations

from agencyops.celery import app as celery_app

__all__ = ["celery_app"]
