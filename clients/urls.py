"""Agency-scoped URLs, mounted under /a/<agency_slug>/ by agencyops/urls.py.

Every pattern here takes agency_slug, so AgencyMiddleware guards all of them;
the cross-tenant sweep in tests/integration walks this list.
"""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from clients.views import agency, clients

client_urls = [
    path("", clients.client_list, name="client-list"),
    path("new/", clients.client_create, name="client-create"),
    path("<uuid:client_id>/", clients.client_detail, name="client-detail"),
    path("<uuid:client_id>/edit/", clients.client_edit, name="client-edit"),
    path("<uuid:client_id>/archive/", clients.client_archive, name="client-archive"),
    path("<uuid:client_id>/restore/", clients.client_restore, name="client-restore"),
    path("<uuid:client_id>/logo", clients.client_logo, name="client-logo"),
    path("<uuid:client_id>/viewers/invite/", clients.viewer_invite, name="viewer-invite"),
]

member_urls = [
    path("", agency.members, name="members"),
    path("invite/", agency.member_invite, name="member-invite"),
    path("<uuid:member_id>/role/", agency.member_role, name="member-role"),
    path("<uuid:member_id>/remove/", agency.member_remove, name="member-remove"),
]

agency_urlpatterns: list[URLPattern | URLResolver] = [
    path("", agency.dashboard, name="dashboard"),
    path("settings/", agency.agency_settings, name="agency-settings"),
    path("clients/", include(client_urls)),
    path("members/", include(member_urls)),
    path(
        "invitations/<uuid:invitation_id>/revoke/",
        agency.invitation_revoke,
        name="invitation-revoke",
    ),
    path(
        "invitations/<uuid:invitation_id>/resend/",
        agency.invitation_resend,
        name="invitation-resend",
    ),
    path("viewers/<uuid:viewer_id>/remove/", clients.viewer_remove, name="viewer-remove"),
    path("", include("agents.urls")),
]
