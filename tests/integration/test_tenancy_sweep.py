"""Walk every URL under /a/<agency_slug>/ as an outsider: each one must answer 404.

New URLs join the sweep automatically. A URL with a parameter this file does
not know fails the test until a fixture object for it is added to OBJECTS.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from agents import memory as memories
from agents.engine.memory import MemoryChange
from agents.models import AlertChannel, AlertRule, Dream, MemoryProposal
from clients.models import Membership
from tests.factories import (
    ClientViewerFactory,
    InvitationFactory,
    UserFactory,
    make_agent,
    make_run,
)

pytestmark = pytest.mark.django_db

PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def agency_patterns() -> list[str]:
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                found.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return [p for p in found if "<slug:agency_slug>" in p]


@pytest.fixture
def objects_of_a(agency_a, alice, client_a):
    """One object of agency A for every kind of id an agency URL takes."""
    viewer = ClientViewerFactory(client=client_a, user=UserFactory(email="v@acme.test"))
    agent = make_agent(client_a)
    run = make_run(agent)
    artifact = run.artifacts.create(agency=agency_a, path="report.md", size=2, content=b"hi")
    store = memories.store_of(agent)
    note = memories.save_note(store, None, {"key": "a/b", "title": "T", "body": "B"}, alice)
    dream = Dream.objects.create(agency=agency_a, agent=agent, trigger="manual")
    proposal = memories.record_proposal(
        store,
        MemoryChange("add", "a/c", "T", "B", rationale="R"),
        MemoryProposal.Status.PENDING,
        dream=dream,
    )
    return {
        "memory_id": note.public_id,
        "store_id": store.public_id,
        "dream_id": dream.public_id,
        "proposal_id": proposal.public_id,
        "agent_id": agent.public_id,
        "run_id": run.public_id,
        "artifact_id": artifact.public_id,
        "client_id": client_a.public_id,
        "member_id": Membership.objects.get(user=alice).public_id,
        "invitation_id": InvitationFactory(agency=agency_a).public_id,
        "viewer_id": viewer.public_id,
        "rule_id": AlertRule.objects.create(agency=agency_a, kind="run_errors").public_id,
        "channel_id": AlertChannel.objects.create(
            agency=agency_a, name="Mail", kind="email", target="a@a.test"
        ).public_id,
    }


def fill(pattern: str, slug: str, objects: dict) -> str:
    def replace(match):
        name = match.group("name")
        if name == "agency_slug":
            return slug
        assert name in objects, (
            f"tenancy sweep: add an object of agency A for <{name}> in {pattern}"
        )
        return str(objects[name])

    return "/" + PARAM.sub(replace, pattern)


def test_the_sweep_covers_the_agency_urls():
    patterns = agency_patterns()
    assert len(patterns) >= 15
    assert "a/<slug:agency_slug>/clients/<uuid:client_id>/edit/" in patterns


@pytest.mark.parametrize("pattern", agency_patterns())
def test_an_outsider_gets_404_on_every_agency_url(client, carol, objects_of_a, pattern):
    client.force_login(carol)
    url = fill(pattern, "agency-a", objects_of_a)

    assert client.get(url).status_code == 404, url
    assert (
        client.post(url, {"name": "x", "email": "x@x.test", "role": "owner"}).status_code == 404
    ), url


@pytest.mark.parametrize("pattern", [p for p in agency_patterns() if p.count("<") > 1])
def test_objects_of_another_agency_are_404_under_the_outsiders_own_slug(
    client, carol, objects_of_a, pattern
):
    """carol is an owner in B, so her role passes: only the agency-scoped lookup stops her."""
    client.force_login(carol)
    url = fill(pattern, "agency-b", objects_of_a)

    statuses = {
        client.get(url).status_code,
        client.post(url, {"role": "member", "email": "x@x.test"}).status_code,
    }

    # A wrong method may be refused before the lookup (405 leaks nothing); the
    # method the view accepts must reach the agency-scoped lookup and 404.
    assert 404 in statuses, (url, statuses)
    assert statuses <= {404, 405}, (url, statuses)


def test_an_unknown_agency_slug_is_404_even_for_members_of_others(client, alice):
    client.force_login(alice)

    assert client.get("/a/no-such-agency/").status_code == 404
