"""Input that used to answer 500: each is now a 4xx or a form error, nothing half-written.

Also the schedule that never fires (`0 0 31 2 *`): refused at save with a clear
message, and an agent that already has one in the database (saved before the check
existed) no longer breaks its pages.
"""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from agents import memory as memories
from agents import services
from agents.models import Agent, MemoryVersion, RubricVersion
from agents.scheduling import ScheduleError, next_fires, parse_schedule
from clients import services as client_services
from tests.factories import ClientFactory, make_agent
from tests.integration.test_agents import agent_data

pytestmark = pytest.mark.django_db

BASE = "/a/agency-a"
NEVER = "0 0 31 2 *"
RUBRIC = """criteria:
  - key: complete
    description: Every dimension has a finding.
    kind: hard
    weight: 1
"""


@pytest.mark.parametrize(
    "cron",
    # Beat needs day of month and day of week to match together, so a weekday does
    # not rescue 31 February.
    [NEVER, "0 0 30 2 *", "15 3 31 4,6,9,11 *", "0 0 31 2 1"],
)
def test_a_schedule_that_never_fires_is_refused_with_a_reason(cron):
    with pytest.raises(ScheduleError, match="This schedule never fires"):
        parse_schedule(cron, "UTC")


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 * * 7", "The day of week field “7” is not valid. Days of the week are 0-6"),
        ("0 0 L * *", "The day of month field “L” is not valid."),
        ("0 0 * * 1#2", "The day of week field “1#2” is not valid."),
    ],
)
def test_what_beat_cannot_run_is_refused_though_croniter_reads_it(cron, message):
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(cron, "UTC")


def test_rare_but_real_dates_are_kept_and_previewed_as_beat_fires_them():
    assert parse_schedule("0 0 29 2 *", "UTC").cron == "0 0 29 2 *"
    assert parse_schedule("0 0 31 2,3 *", "UTC").cron == "0 0 31 2,3 *"
    # Both day fields must match, as in beat: only Friday the 13th.
    fires = next_fires(parse_schedule("0 0 13 * 5", "UTC"), 3)
    assert all((f.day, f.weekday()) == (13, 4) for f in fires)


def test_the_agent_form_refuses_a_schedule_that_never_fires(client, ada, client_a):
    client.force_login(ada)
    response = client.post(
        f"{BASE}/agents/new/", agent_data(client_a, name="Never", schedule=NEVER)
    )
    assert "This schedule never fires" in response.content.decode()
    assert not Agent.objects.filter(name="Never").exists()


def test_pages_of_an_agent_saved_with_a_never_firing_schedule_still_answer(client, alice, client_a):
    agent = make_agent(client_a)
    # Saved before the check existed: straight to the table, past validation.
    Agent.objects.filter(pk=agent.pk).update(schedule=NEVER)
    client.force_login(alice)

    assert client.get(f"{BASE}/agents/").status_code == 200
    page = client.get(f"{BASE}/agents/{agent.public_id}/")
    assert page.status_code == 200
    preview = client.get(f"{BASE}/agents/schedule-preview/", {"schedule": NEVER})
    assert preview.status_code == 200
    assert "This schedule never fires" in preview.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"schedule": "30 2 * * *", "client": "²"},
        {"schedule": "30 2 * * *", "client": "9" * 5000},
        {"schedule": "30 2 * * *", "timezone": "Europe"},
        {"schedule": "30 2 * * *", "timezone": "Etc"},
        {"schedule": "30 2 * * *", "timezone": "../../etc/passwd"},
        {"schedule": "30 2 * * *", "timezone": "E" * 5000},
    ],
)
def test_the_schedule_preview_answers_bad_parameters_with_a_message(client, alice, params):
    client.force_login(alice)
    response = client.get(f"{BASE}/agents/schedule-preview/", params)
    assert response.status_code == 200
    body = response.content.decode()
    if "timezone" in params:
        assert "is not an IANA time zone, such as Europe/London" in body
        assert "E" * 100 not in body  # an overlong name is not echoed whole
    else:
        assert "Daily at 02:30" in body or "At 02:30" in body


@pytest.mark.parametrize("source", ["not-a-uuid", "", "²"])
def test_copying_a_rubric_from_a_malformed_source_is_a_404(client, alice, client_a, source):
    agent = make_agent(client_a)
    client.force_login(alice)
    response = client.post(f"{BASE}/agents/{agent.public_id}/rubric/copy/", {"source": source})
    assert response.status_code == 404
    assert not RubricVersion.objects.filter(agent=agent).exists()


def test_copying_a_rubric_from_another_agencys_agent_is_a_404(client, alice, carol, client_a):
    theirs = make_agent(ClientFactory(agency=carol.memberships.get().agency))
    services.save_rubric(theirs, RUBRIC, carol)
    agent = make_agent(client_a)
    client.force_login(alice)
    response = client.post(
        f"{BASE}/agents/{agent.public_id}/rubric/copy/", {"source": str(theirs.public_id)}
    )
    assert response.status_code == 404
    assert not RubricVersion.objects.filter(agent=agent).exists()


@pytest.mark.parametrize("version", ["²", "-1", "0", "1.5", "9" * 5000, "99999999999"])
def test_memory_restore_and_store_rollback_refuse_bad_versions_with_a_message(
    client, bob, client_a, version
):
    agent = make_agent(client_a)
    store = memories.store_of(agent)
    note = memories.save_note(
        store, None, {"key": "client/tone", "title": "Tone", "body": "Warm."}, bob
    )
    before = MemoryVersion.objects.filter(memory__store=store).count()
    client.force_login(bob)

    restore = client.post(
        f"{BASE}/memory/{note.public_id}/restore/", {"version": version}, follow=True
    )
    assert restore.status_code == 200
    assert "Pick a version to restore." in restore.content.decode()
    rollback = client.post(
        f"{BASE}/memory/stores/{store.public_id}/rollback/", {"version": version}, follow=True
    )
    assert rollback.status_code == 200
    assert "Pick a point in the store&#x27;s history." in rollback.content.decode()
    assert MemoryVersion.objects.filter(memory__store=store).count() == before


def test_archiving_and_restoring_a_client_turns_off_a_stored_never_firing_schedule(client_a):

    agent = make_agent(client_a, schedule="30 2 * * *")
    Agent.objects.filter(pk=agent.pk).update(schedule=NEVER)

    client_services.archive_client(client_a)
    client_services.restore_client(client_a)

    task = PeriodicTask.objects.get(name=f"agent:{agent.public_id}")
    assert not task.enabled  # turned off with a warning, not a 500
