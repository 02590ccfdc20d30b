"""Operator admin for tenancy and clients: cross-tenant by design, staff only."""

from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from clients.models import Agency, Client, ClientViewer, Invitation, Membership, User

# Operators log in through allauth, so two-factor and email verification apply
# to the admin too, not Django's bare password form.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
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
class AgencyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "slug", "billing_email", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "slug", "billing_email")
    readonly_fields = ("public_id", "created_at")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "agency", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "agency__name", "agency__slug")
    list_select_related = ("user", "agency")
    raw_id_fields = ("user", "agency")
    readonly_fields = ("public_id", "created_at")


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "agency", "timezone", "contact_email", "created_at", "archived_at")
    list_filter = (("archived_at", admin.EmptyFieldListFilter), "timezone")
    search_fields = ("name", "website", "contact_email", "agency__name")
    list_select_related = ("agency",)
    raw_id_fields = ("agency",)
    # Archive and restore in the app: they also switch the agents' schedules.
    readonly_fields = ("public_id", "created_at", "updated_at", "archived_at")
    date_hierarchy = "created_at"


@admin.register(ClientViewer)
class ClientViewerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "client", "agency", "created_at")
    list_filter = ("agency",)
    search_fields = ("user__email", "client__name", "agency__name")
    list_select_related = ("user", "client", "agency")
    raw_id_fields = ("user", "client", "agency")
    readonly_fields = ("public_id", "created_at")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("email", "agency", "role", "status", "created_at", "expires_at")
    list_filter = ("status", "role")
    search_fields = ("email", "agency__name")
    list_select_related = ("agency",)
    raw_id_fields = ("agency", "client", "invited_by", "accepted_by")
    # Only a hash of the token is stored; it is neither shown nor filterable.
    exclude = ("token_hash",)
    readonly_fields = ("public_id", "created_at", "accepted_at", "accepted_by")

    def lookup_allowed(self, lookup: str, value: str, request: object = None) -> bool:
        # Filtering by the hash from the URL would let staff probe for it.
        if lookup.startswith("token_hash"):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]
