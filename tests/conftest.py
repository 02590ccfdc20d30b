"""Personas shared by every layer: alice owns agency A, bob is a member of A,
carol owns agency B and must never see anything of A."""

from __future__ import annotations

import pytest

from clients.models import Role
from tests.factories import AgencyFactory, ClientFactory, MembershipFactory, UserFactory


@pytest.fixture
def agency_a(db):
    return AgencyFactory(name="Agency A", slug="agency-a")


@pytest.fixture
def agency_b(db):
    return AgencyFactory(name="Agency B", slug="agency-b")


@pytest.fixture
def alice(agency_a):
    user = UserFactory(username="alice", email="alice@a.test")
    MembershipFactory(agency=agency_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(agency_a):
    user = UserFactory(username="bob", email="bob@a.test")
    MembershipFactory(agency=agency_a, user=user, role=Role.MEMBER)
    return user


@pytest.fixture
def ada(agency_a):
    """An admin of agency A."""
    user = UserFactory(username="ada", email="ada@a.test")
    MembershipFactory(agency=agency_a, user=user, role=Role.ADMIN)
    return user


@pytest.fixture
def carol(agency_b):
    user = UserFactory(username="carol", email="carol@b.test")
    MembershipFactory(agency=agency_b, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def client_a(agency_a):
    return ClientFactory(agency=agency_a, name="Acme Bakery", timezone="Europe/London")


def pytest_collection_modifyitems(config, items):
    """Mark each test by the layer folder it lives in, so layers can be selected."""
    for item in items:
        path = str(item.path)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/tests/browser/" in path:
            item.add_marker(pytest.mark.browser)
