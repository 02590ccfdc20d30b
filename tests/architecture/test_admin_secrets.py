"""No registered ModelAdmin filters on, searches or shows a secret field.

Walks every ModelAdmin on the site (ours, allauth's, django-celery-beat's) and every
field whose name looks secret, on the model and up to two relations away. A new
secret field, or a new admin without SecretSafeAdmin, fails here until it is
refused or, if it holds nothing secret, named in NOT_SECRET with what it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.contrib.admin.filters import ListFilter
from django.test import RequestFactory

from agencyops.admin_security import (
    NOT_SECRET,
    NUMBER_TYPES,
    field_label,
    is_secret_field,
    touches_secret,
)
from clients.models import User

# Deliberately broader than admin_security.SECRET_NAME, so that narrowing that
# pattern cannot quietly let a field through.
LOOKS_SECRET = re.compile(
    r"secret|token|key|pass|credential|signature|salt|seed|otp|hash|private|auth|api|cert",
    re.I,
)
# The secrets known today: the helper must keep naming each of them.
KNOWN_SECRETS = {
    "clients.User.password",
    "clients.Invitation.token_hash",
    "agents.Agent.webhook_secret",
    "agents.AlertChannel.secret",
    "agents.AlertChannel.target",
    "mfa.Authenticator.data",
}
# Django's user form shows the password only as a summary with the hash masked.
MASKED_BY_DJANGO = {"clients.User.password"}

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_request():
    request = RequestFactory().get("/admin/")
    request.user = User(is_staff=True, is_superuser=True, is_active=True)
    return request


def looks_secret(field) -> bool:
    if field.is_relation or field.get_internal_type() in NUMBER_TYPES:
        return False  # relations are followed; counts such as input_tokens are numbers
    return bool(LOOKS_SECRET.search(field.name)) or is_secret_field(field)


def secret_paths(model, depth: int = 2, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield (lookup path, field label) for every secret field reachable from `model`."""
    for field in model._meta.get_fields():
        if looks_secret(field) and field_label(field) not in NOT_SECRET:
            yield prefix + field.name, field_label(field)
        related = field.related_model
        if depth and field.is_relation and related is not None and not isinstance(related, str):
            yield from secret_paths(related, depth - 1, f"{prefix}{field.name}__")


def test_every_known_secret_is_named_by_the_helper():
    fields = {field_label(f): f for model in admin.site._registry for f in model._meta.get_fields()}

    assert fields.keys() >= KNOWN_SECRETS
    assert [label for label in sorted(KNOWN_SECRETS) if not is_secret_field(fields[label])] == []


def test_not_secret_names_only_fields_that_exist():
    labels = {field_label(f) for model in admin.site._registry for f in model._meta.get_fields()}

    assert set(NOT_SECRET) <= labels


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=lambda x: getattr(x, "__name__", ""))
def test_every_admin_refuses_lookups_on_every_secret(model, model_admin):
    request = admin_request()

    allowed = [
        f"{path}{suffix}"
        for path, _ in secret_paths(model)
        for suffix in ("", "__regex", "__startswith", "__exact", "__isnull")
        if model_admin.lookup_allowed(f"{path}{suffix}", "^whsec_", request)
    ]

    assert allowed == []


@pytest.mark.parametrize(("model", "model_admin"), ADMINS, ids=lambda x: getattr(x, "__name__", ""))
def test_no_admin_lists_searches_filters_or_edits_a_secret(model, model_admin):
    request = admin_request()
    secret_names = {path for path, _ in secret_paths(model, depth=0)}

    def bad(names) -> list[str]:
        return [n for n in names if isinstance(n, str) and touches_secret(model, n.lstrip("^=@"))]

    list_filter = [
        item[0] if isinstance(item, (list, tuple)) else item
        for item in model_admin.get_list_filter(request)
        if not (isinstance(item, type) and issubclass(item, ListFilter))
    ]
    assert bad(model_admin.get_list_display(request)) == []
    assert bad(model_admin.get_search_fields(request)) == []
    assert bad(list_filter) == []
    assert bad(model_admin.list_editable) == []
    assert bad([model_admin.date_hierarchy]) == []
    for obj in (None, model()):
        shown = set(model_admin.get_fields(request, obj)) | set(
            model_admin.get_form(request, obj).base_fields
        )
        leaked = {
            name
            for name in shown & secret_names
            if f"{model._meta.label}.{name}" not in MASKED_BY_DJANGO
        }
        assert leaked == set(), model_admin


def test_the_check_covers_relations_and_json_keys():
    """The walk itself: these must count as secret paths, or the tests above prove nothing."""
    from agents.models import Run
    from clients.models import Agency, Membership

    assert ("agent__webhook_secret", "agents.Agent.webhook_secret") in set(secret_paths(Run))
    assert ("user__password", "clients.User.password") in set(secret_paths(Membership))
    assert touches_secret(Agency, "alert_channels__target__contains")
    assert touches_secret(User, "authenticator__data__secret__regex")
    assert not touches_secret(Run, "agent__name__icontains")
    assert not touches_secret(Run, "input_tokens__gt")
