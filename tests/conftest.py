"""Personas shared by every layer: alice owns agency A, bob is a member of A,
carol owns agency B and must never see anything of A."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import connections

from agencyops.celery import app
from agents.simulator import Simulator, SimulatorConfig
from clients.models import Role
from tests.factories import AgencyFactory, ClientFactory, MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def sandbox_dir(settings, tmp_path):
    """Each test's run workspaces in its own temporary folder, never the repo's var/."""
    settings.SANDBOX_DIR = tmp_path / "sandbox"
    return settings.SANDBOX_DIR


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


@pytest.fixture
def simulator(settings):
    """The simulated Messages API on a free port, with the app pointed at it."""
    with Simulator(SimulatorConfig(seed=11, retry_after=0.01)) as sim:
        settings.SIMULATOR_URL = sim.url
        settings.ANTHROPIC_BASE_URL = sim.url
        settings.ANTHROPIC_API_KEY = ""
        yield sim


def purge_queues():
    """Drop messages an earlier test left on any of the queues workers consume."""
    with app.connection_for_write() as conn:
        for queue in django_settings.WORKER_QUEUES.split(","):
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def worker(transactional_db):
    """A real Celery worker on the test broker (Redis), in a thread of this process."""
    assert not app.conf.task_always_eager
    purge_queues()
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=django_settings.WORKER_QUEUES.split(","),
    ):
        yield
    connections.close_all()
