"""URLs of the read-only client portal, under /portal/."""

from __future__ import annotations

from django.urls import path

from clients.views import portal

urlpatterns = [
    path("", portal.portal_home, name="portal-home"),
    path("logo", portal.portal_logo, name="portal-logo"),
]
