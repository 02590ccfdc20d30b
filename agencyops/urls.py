"""Top-level URLs: admin, accounts, invitations, the client portal and /a/<agency>/."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from agents import views as agent_views
from clients import views as client_views
from clients.urls import agency_urlpatterns

urlpatterns = [
    path("", client_views.home, name="home"),
    path("healthz", client_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Our signup view wraps allauth's to carry a pending invitation; it must
    # come before allauth's own URLs.
    path("accounts/signup/", client_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("agencies/new/", client_views.agency_create, name="agency-create"),
    path("invitations/pending/", client_views.invitation_accept, name="invitation-accept"),
    path("invitations/<str:token>/", client_views.invitation_open, name="invitation-open"),
    path("portal/", include("clients.portal_urls")),
    path("a/<slug:agency_slug>/", include(agency_urlpatterns)),
    # Called by outside systems, signed with the agent's secret (agents/webhooks.py).
    # Not under /a/: no session, so not `agency_slug` (AgencyMiddleware would ask for a login).
    path(
        "hooks/<slug:agency>/agents/<uuid:agent_id>/",
        agent_views.webhook_receive,
        name="agent-webhook-receive",
    ),
]
