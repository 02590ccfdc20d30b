"""Keep secrets out of the operator admin: never filtered on, searched or shown.

A changelist filter answers yes or no about a field's value, so a filter such as
`?webhook_secret__regex=^whsec_W` recovers a secret one character at a time.
Every project ModelAdmin derives from SecretSafeAdmin, which refuses any lookup
that touches a secret field, on the model itself or through relations
(`?agent__webhook_secret__startswith=...` on runs). tests/architecture checks
every registered ModelAdmin against every field `is_secret_field` names.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Field, ForeignObjectRel, Model
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

# Field names that say they hold a secret.
SECRET_NAME = re.compile(
    r"secret|token|key|password|passwd|credential|signature|salt|seed|otp|hash|private", re.I
)

# Secret fields whose names do not say so ("app_label.Model.field").
SECRET_FIELDS: frozenset[str] = frozenset(
    {
        # A Slack incoming-webhook or webhook URL lets whoever holds it post alerts.
        "agents.AlertChannel.target",
        # allauth stores the TOTP secret and the recovery-code seed here, in clear.
        "mfa.Authenticator.data",
    }
)

# Names that look secret but hold nothing secret, each with what it holds.
NOT_SECRET: dict[str, str] = {
    "agents.Memory.key": "the path of a memory note, such as client/preferences/tone",
    "django_celery_beat.PeriodicTask.routing_key": "the name of a Celery route",
}

# Numbers such as input_tokens or memory_token_budget are counts, never secrets.
NUMBER_TYPES = frozenset(
    {
        "BigIntegerField",
        "DecimalField",
        "FloatField",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
    }
)

type AnyField = Field[Any, Any] | ForeignObjectRel


def field_label(field: AnyField) -> str:
    return f"{field.model._meta.label}.{field.name}"


def is_secret_field(field: AnyField) -> bool:
    """Return whether a model field holds a secret (relations are followed, not judged)."""
    if field.is_relation:
        return False
    label = field_label(field)
    if label in SECRET_FIELDS:
        return True
    if label in NOT_SECRET or field.get_internal_type() in NUMBER_TYPES:
        return False
    return bool(SECRET_NAME.search(field.name))


def touches_secret(model: type[Model], lookup: str) -> bool:
    """Return whether a queryset lookup path reads a secret field of `model` or beyond."""
    for part in lookup.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            # The rest are transforms and lookups (regex, startswith, a JSON key).
            return False
        if is_secret_field(field):
            return True
        related = field.related_model
        if not field.is_relation or related is None or isinstance(related, str):
            return False
        model = related
    return False


class SecretSafeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A ModelAdmin that never filters on a secret, whatever the URL asks for."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # Refused lookups make the changelist answer 400 (DisallowedModelAdminLookup).
        if touches_secret(self.model, lookup):
            return False
        allowed: bool = super().lookup_allowed(lookup, value, request)
        return allowed
