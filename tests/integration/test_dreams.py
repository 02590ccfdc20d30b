"""Dreams through a real Celery worker against scripted simulator output.

The runs a dream reads are rows made here (their grading is tested elsewhere);
the dream itself is queued through the service, claimed by the worker, and its
model call goes through the SDK to the simulator, which plays the script.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from agents import dreams, services
from agents import memory as memories
from agents.models import (
    Agent,
    Attempt,
    Dream,
    Grade,
    Memory,
    MemoryProposal,
    MemoryVersion,
    Run,
)
from agents.simulator import Turn
from clients.services import ServiceError
from tests.factories import ClientFactory, make_agent, make_run, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

RUBRIC = """\
floor: 7.5
criteria:
  - key: coverage
    description: Every page of the site is audited.
    kind: hard
    weight: 0.5
  - key: clarity
    description: Each finding says what to do next.
    kind: soft
    weight: 0.5
"""


def dreaming_agent(client, mode=Agent.ReviewMode.AUTO, script="curate", **fields):
    agent = make_agent(
        client,
        instructions=f"Audit the site. [sim:dream={script}]",
        memory_review_mode=mode,
        dreaming_enabled=True,
        retry_backoff_seconds="0.01",
        **fields,
    )
    services.save_rubric(agent, RUBRIC, None)
    return agent


def graded_run(agent, passed, failed=("clarity",)):
    """A finished run with a stored grade: passed, or failing the `failed` criteria."""
    rubric = agent.rubric_versions.order_by("-number").first()
    score = 8.5 if passed else 5.0
    run = make_run(
        agent,
        status=Run.Status.SUCCEEDED if passed else Run.Status.FAILED_GRADE,
        rubric_version=rubric,
        score=score,
        output="# Audit\n- Titles repeat.",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    attempt = Attempt.objects.create(
        agency=agent.agency, run=run, number=1, status="succeeded", finished_at=timezone.now()
    )
    verdicts = [
        {
            "key": key,
            "kind": "hard" if key == "coverage" else "soft",
            "weight": 0.5,
            "score": 4.0 if key in failed and not passed else 9.0,
            "passed": passed or key not in failed,
            "evidence": "-",
            "feedback": f"Fix {key}: say what to do next.",
        }
        for key in ("coverage", "clarity")
    ]
    Grade.objects.create(
        agency=agent.agency,
        attempt=attempt,
        rubric_version=rubric,
        status="passed" if passed else "failed",
        score=score,
        verdicts=verdicts,
        grader_model="claude-sonnet-4-6",
    )
    return run


def changes(*items, reason=""):
    return Turn(
        tool_uses=(
            {"name": "submit_memory_changes", "input": {"changes": list(items), "reason": reason}},
        )
    )


def add(key, runs, body="Say what to do next for every finding.", tags=(), title=None):
    return {
        "operation": "add",
        "key": key,
        "title": title or key.rsplit("/", 1)[-1].title(),
        "body": body,
        "tags": list(tags),
        "weight": 2,
        "rationale": "Seen in the runs cited.",
        "runs": [str(r.public_id) for r in runs],
    }


def dream_through_worker(agent):
    return wait_for(dreams.request_dream(agent, None))


def test_auto_mode_applies_a_failure_note_and_a_fact_with_versions_and_cost(
    worker, simulator, client_a
):
    agent = dreaming_agent(client_a)
    failed = graded_run(agent, passed=False)
    passed = graded_run(agent, passed=True)
    simulator.add_script(
        "curate",
        [
            changes(
                add("failures/clarity", [failed], tags=["failure:clarity"]),
                add("client/pages", [passed], body="The site has 3 pages: /, /blog, /shop."),
            )
        ],
    )

    item = dream_through_worker(agent)

    assert item.status == Dream.Status.COMPLETED, item.error
    assert (item.applied, item.queued, item.refused) == (2, 0, 0)
    assert set(item.runs.all()) == {failed, passed}
    assert item.cost_usd > 0
    assert item.input_tokens > 0
    note = Memory.objects.get(key="failures/clarity")
    assert note.tags == ["failure:clarity"]
    assert list(note.source_runs.all()) == [failed]
    version = note.versions.get()
    assert (version.actor, version.dream, version.operation) == ("dream", item, "created")
    assert version.reason == "Seen in the runs cited."
    # The dream read both runs' grades and the grader's feedback.
    assert "Fix clarity: say what to do next." in item.prompt
    assert str(failed.public_id) in item.prompt


def test_queue_all_mode_waits_for_review_and_approval_applies_it(
    worker, simulator, client_a, alice
):
    agent = dreaming_agent(client_a, mode=Agent.ReviewMode.QUEUE_ALL)
    passed = graded_run(agent, passed=True)
    simulator.add_script(
        "curate", [changes(add("client/tone", [passed]), add("client/pages", [passed]))]
    )

    item = dream_through_worker(agent)

    assert (item.applied, item.queued) == (0, 2)
    assert not Memory.objects.exists()
    tone, pages = item.proposals.order_by("pk")
    memories.approve(tone, alice)
    memories.reject(pages, alice)
    note = Memory.objects.get()
    assert note.key == "client/tone"
    version = note.versions.get()
    assert (version.actor, version.user) == ("dream", alice)
    pages.refresh_from_db()
    assert pages.status == MemoryProposal.Status.REJECTED
    with pytest.raises(ServiceError, match="already rejected"):
        memories.approve(pages, alice)


def test_low_risk_mode_applies_additions_and_reweights_and_queues_edits_and_expiries(
    worker, simulator, client_a, alice
):
    agent = dreaming_agent(client_a, mode=Agent.ReviewMode.LOW_RISK)
    store = memories.store_of(agent)
    for key in ("client/tone", "client/old-site", "client/pages"):
        memories.save_note(store, None, {"key": key, "title": key, "body": "Was so."}, alice)
    passed = graded_run(agent, passed=True)
    ids = [str(passed.public_id)]
    simulator.add_script(
        "curate",
        [
            changes(
                add("client/cms", [passed], body="The site runs WordPress."),
                {
                    "operation": "reweight",
                    "key": "client/tone",
                    "weight": 3,
                    "rationale": "Held.",
                    "runs": ids,
                },
                {
                    "operation": "edit",
                    "key": "client/pages",
                    "body": "4 pages now.",
                    "rationale": "New page.",
                    "runs": ids,
                },
                {"operation": "expire", "key": "client/old-site", "rationale": "Site moved."},
            )
        ],
    )

    item = dream_through_worker(agent)

    assert (item.applied, item.queued, item.refused) == (2, 2, 0)
    assert Memory.objects.get(key="client/cms").status == "active"
    assert Memory.objects.get(key="client/tone").weight == 3
    queued = {p.operation for p in item.proposals.filter(status="pending")}
    assert queued == {"edit", "expire"}
    assert Memory.objects.get(key="client/pages").body == "Was so."
    memories.approve(item.proposals.get(operation="expire"), alice)
    old = Memory.objects.get(key="client/old-site")
    assert old.status == Memory.Status.EXPIRED  # kept, out of use, in history
    assert [v.operation for v in old.versions.order_by("number")] == ["created", "expired"]


def test_grade_weighting_refuses_facts_from_failed_runs_and_wrong_failure_tags(
    worker, simulator, client_a
):
    agent = dreaming_agent(client_a)
    failed = graded_run(agent, passed=False, failed=("clarity",))
    simulator.add_script(
        "curate",
        [
            changes(
                add("client/fact", [failed], body="A fact from a failed run."),
                add("failures/coverage", [failed], tags=["failure:coverage"]),
                add("failures/clarity", [failed], tags=["failure:clarity"]),
            )
        ],
    )

    item = dream_through_worker(agent)

    assert (item.applied, item.refused) == (1, 2)
    refusals = dict(item.proposals.values_list("change__key", "refusal"))
    assert "did not meet the floor" in refusals["client/fact"]
    assert "no cited run failed that criterion" in refusals["failures/coverage"]
    assert list(Memory.objects.values_list("key", flat=True)) == ["failures/clarity"]


def test_the_leak_check_refuses_a_change_naming_another_client(worker, simulator, client_a):
    ClientFactory(
        agency=client_a.agency,
        name="Globex",
        website="https://www.globex.example/",
        contact_email="hank@globex-corp.example",
    )
    agent = dreaming_agent(client_a)
    passed = graded_run(agent, passed=True)
    simulator.add_script(
        "curate",
        [
            changes(
                add("client/a", [passed], body="Compare with globex.example's titles."),
                add("client/b", [passed], body="Ask Hank (hank@globex-corp.example)."),
                add("client/c", [passed], title="Like Globex does"),
                add("client/d", [passed], body="Titles repeat on /blog."),
            )
        ],
    )

    item = dream_through_worker(agent)

    assert (item.applied, item.refused) == (1, 3)
    refused = item.proposals.filter(status="refused")
    assert all("leak check" in p.refusal for p in refused)
    assert list(Memory.objects.values_list("key", flat=True)) == ["client/d"]


@pytest.mark.parametrize(
    ("turn", "problem"),
    [
        (
            changes({"operation": "add", "key": "client/x", "title": "X", "body": "Y"}),
            "no rationale",
        ),
        (
            changes({"operation": "edit", "key": "client/none", "body": "Y", "rationale": "R"}),
            "no note",
        ),
        (changes(), "no change and gave no reason"),
        (Turn(text="I would rather not."), "0 submit_memory_changes calls"),
    ],
    ids=["missing-rationale", "unknown-note", "silent-no-change", "no-tool-call"],
)
def test_a_dream_whose_answer_does_not_validate_fails_closed(
    worker, simulator, client_a, turn, problem
):
    agent = dreaming_agent(client_a)
    graded_run(agent, passed=True)
    simulator.add_script("curate", [turn])

    item = dream_through_worker(agent)

    assert item.status == Dream.Status.FAILED
    assert problem in item.error
    assert item.cost_usd > 0  # the call was made and is paid for
    assert not MemoryProposal.objects.exists()
    assert not Memory.objects.exists()


def test_no_change_with_a_reason_is_recorded_as_no_change_not_success(worker, simulator, client_a):
    agent = dreaming_agent(client_a)
    graded_run(agent, passed=True)
    simulator.add_script("curate", [changes(reason="Nothing new in these runs.")])

    item = dream_through_worker(agent)

    assert item.status == Dream.Status.NO_CHANGE
    assert item.reason == "Nothing new in these runs."
    # With no run since, the next dream makes no model call at all.
    again = dream_through_worker(agent)
    assert again.status == Dream.Status.NO_CHANGE
    assert again.cost_usd == Decimal(0)
    assert "No runs finished since the last dream" in again.reason


def test_a_note_a_dream_wrote_reaches_the_next_runs_system_prompt(worker, simulator, client_a):
    agent = dreaming_agent(client_a)
    failed = graded_run(agent, passed=False)
    simulator.add_script(
        "curate",
        [
            changes(
                add("failures/clarity", [failed], tags=["failure:clarity"], body="Name the fix.")
            )
        ],
    )
    dream_through_worker(agent)

    run = wait_for(services.trigger_run(agent, None))

    agent_calls = [r["body"] for r in simulator.state.requests if not r["body"].get("tool_choice")]
    system = agent_calls[-1]["system"][0]
    assert "## Memory" in system["text"]
    assert "Name the fix." in system["text"]
    assert system["cache_control"] == {"type": "ephemeral"}  # in the cached prefix
    window = run.events.get(type="memory.window").data
    assert window["notes"] == ["failures/clarity"]


def test_a_second_dream_now_is_refused_while_one_is_queued(client_a):
    agent = dreaming_agent(client_a)
    Dream.objects.create(agency=agent.agency, agent=agent, trigger="manual")
    with pytest.raises(ServiceError, match="already under way"):
        dreams.request_dream(agent, None)


def test_dream_schedule_is_weekly_staggered_and_synced_with_beat(client_a):
    from django_celery_beat.models import PeriodicTask

    first = dreaming_agent(client_a)
    second = dreaming_agent(client_a, name="Competitor watch")
    schedules = {dreams.dream_schedule_of(a) for a in (first, second)}
    assert len(schedules) == 2
    for cron in schedules:
        _minute, hour, dom, month, dow = cron.split()
        assert (dom, month) == ("*", "*")
        assert 1 <= int(hour) <= 5
        assert 0 <= int(dow) <= 6
    task = PeriodicTask.objects.get(name=f"dream:{first.public_id}")
    assert task.enabled
    assert task.task == "agents.tasks.fire_dream"
    first.dreaming_enabled = False
    services.save_agent(first, None)
    task.refresh_from_db()
    assert not task.enabled


def test_a_scheduled_fire_creates_one_dream_per_slot(client_a):
    agent = dreaming_agent(client_a)
    at = timezone.now()
    assert dreams.fire_dream(agent.pk, at) is not None
    assert dreams.fire_dream(agent.pk, at) is None
    assert Dream.objects.filter(agent=agent).count() == 1


def test_versions_record_every_change_of_a_dream_by_actor(worker, simulator, client_a):
    agent = dreaming_agent(client_a)
    passed = graded_run(agent, passed=True)
    simulator.add_script("curate", [changes(add("client/tone", [passed]))])
    item = dream_through_worker(agent)
    assert MemoryVersion.objects.filter(dream=item).count() == 1


def test_the_sweeper_ends_a_dream_whose_worker_died_so_dream_now_works_again(client_a):
    from datetime import timedelta

    agent = dreaming_agent(client_a)
    long_ago = timezone.now() - timedelta(hours=1)
    stuck = Dream.objects.create(
        agency=agent.agency, agent=agent, trigger="manual", status="running", started_at=long_ago
    )
    recent = Dream.objects.create(
        agency=agent.agency,
        agent=dreaming_agent(client_a, name="Other"),
        trigger="manual",
        status="running",
        started_at=timezone.now(),
    )

    assert dreams.sweep_stuck_dreams() == (1, 0)

    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert stuck.status == Dream.Status.FAILED
    assert "stopped responding" in stuck.error
    assert recent.status == Dream.Status.RUNNING
    assert dreams.request_dream(agent, None).status == Dream.Status.QUEUED
