"""Role ordering and field validation, on unsaved objects."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clients.models import Agency, Membership, Role, validate_timezone


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Role.OWNER, Role.ADMIN, True),
        (Role.OWNER, Role.OWNER, True),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.MEMBER, Role.MEMBER, True),
        (Role.MEMBER, Role.ADMIN, False),
    ],
)
def test_a_role_includes_the_roles_below_it(held, needed, allowed):
    assert Membership(role=held).has_role(needed) is allowed


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Pacific/Auckland"]
)
def test_iana_zones_are_accepted(name):
    validate_timezone(name)


@pytest.mark.parametrize("name", ["", "GMT+1", "europe/london", "Mars/Base", "Europe/London "])
def test_other_zone_names_are_refused_with_an_example(name):
    with pytest.raises(ValidationError, match="Europe/London"):
        validate_timezone(name)


@pytest.mark.parametrize("slug", ["ab", "north-wind", "a1", "x" * 50])
def test_good_agency_slugs(slug):
    Agency(name="x", slug=slug).full_clean(exclude=["name"], validate_unique=False)


@pytest.mark.parametrize(
    "slug", ["-lead", "trail-", "Upper", "spa ce", "x" * 51, "admin", "portal"]
)
def test_bad_agency_slugs(slug):
    with pytest.raises(ValidationError):
        Agency(name="x", slug=slug).full_clean(exclude=["name"], validate_unique=False)
