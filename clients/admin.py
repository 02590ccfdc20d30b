"""Operator admin for tenancy and clients: cross-tenant by design, staff only."""

from __future__ import annotations

from typing import Any

from allauth.account.decorators import secure_admin_login
from allauth.mfa.models import Authenticator
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from agencyops.admin_security import SecretSafeAdmin
from clients.models import Agency, Client, ClientViewer, Invitation, Membership, User

# Operators log in through allauth, so two-factor and email verification apply
# to the admin too, not Django's bare password form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]


@admin.register(User)
class UserAdmin(SecretSafeAdmin, BaseUserAdmin):  # type: ignore[type-arg]
    list_display = ("email", "username", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "username", "first_name", "last_name")
    ordering = ("email",)
    readonly_fields = ("public_id", "last_login", "date_joined")
    fieldsets = (
        *BaseUserAdmin.fieldsets,  # type: ignore[misc]
        ("AgencyOps", {"fields": ("public_id", "last_agency")}),
    )
    raw_id_fields = ("last_agency",)


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    readonly_fields = ("public_id", "created_at")


@admin.register(Agency)
class AgencyAdmin(SecretSafeAdmin):
    list_display = ("name", "slug", "billing_email", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "slug", "billing_email")
    readonly_fields = ("public_id", "created_at")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(SecretSafeAdmin):
    list_display = ("user", "agency", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "agency__name", "agency__slug")
    list_select_related = ("user", "agency")
    raw_id_fields = ("user", "agency")
    readonly_fields = ("public_id", "created_at")


@admin.register(Client)
class ClientAdmin(SecretSafeAdmin):
    list_display = ("name", "agency", "timezone", "contact_email", "created_at", "archived_at")
    list_filter = (("archived_at", admin.EmptyFieldListFilter), "timezone")
    search_fields = ("name", "website", "contact_email", "agency__name")
    list_select_related = ("agency",)
    raw_id_fields = ("agency",)
    # Archive and restore in the app: they also switch the agents' schedules.
    readonly_fields = ("public_id", "created_at", "updated_at", "archived_at")
    date_hierarchy = "created_at"


@admin.register(ClientViewer)
class ClientViewerAdmin(SecretSafeAdmin):
    list_display = ("user", "client", "agency", "created_at")
    list_filter = ("agency",)
    search_fields = ("user__email", "client__name", "agency__name")
    list_select_related = ("user", "client", "agency")
    raw_id_fields = ("user", "client", "agency")
    readonly_fields = ("public_id", "created_at")


@admin.register(Invitation)
class InvitationAdmin(SecretSafeAdmin):
    list_display = ("email", "agency", "role", "status", "created_at", "expires_at")
    list_filter = ("status", "role")
    search_fields = ("email", "agency__name")
    list_select_related = ("agency",)
    raw_id_fields = ("agency", "client", "invited_by", "accepted_by")
    # Only a hash of the token is stored; it is neither shown nor filterable
    # (SecretSafeAdmin refuses lookups on it).
    exclude = ("token_hash",)
    readonly_fields = ("public_id", "created_at", "accepted_at", "accepted_by")


# allauth's own admin for authenticators shows `data`, which holds the TOTP secret
# and the recovery-code seed in clear, and lets a filter probe it.
admin.site.unregister(Authenticator)


@admin.register(Authenticator)
class AuthenticatorAdmin(SecretSafeAdmin):
    list_display = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type", "created_at", "last_used_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    # Operators may remove a lost authenticator; setting one up is the user's own.
    exclude = ("data",)
    readonly_fields = ("user", "type", "created_at", "last_used_at")

    def has_add_permission(self, request: Any) -> bool:
        return False
