"""Generated graded history for the demo agents: months of runs, attempts and grades.

Written straight to the tables (no model calls), from a seeded random walk,
so the same demo always shows the same history. Every seeded run says in its
output that it is generated. A weak agent's quality drifts down so its alerts
have something to catch.
"""

from __future__ import annotations

import random
import zlib
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from agents import services
from agents.engine.rubric import Rubric, Verdict, attempt_passes, load_rubric, overall_score
from agents.grading import verdict_rows
from agents.models import Agent, AgentVersion, Attempt, Grade, RubricVersion, Run

DAYS = 100
GENERATED_NOTE = "Generated demo history: no model was called for this run."


def _cadence(agent: Agent) -> timedelta:
    fields = agent.schedule.split()
    if len(fields) == 5 and fields[4] not in ("*", "1-5"):
        return timedelta(days=7)
    if fields and fields[0].startswith("*/"):
        return timedelta(hours=8)  # a sample of a very frequent schedule
    return timedelta(days=1)


def _clip(value: float) -> float:
    return round(min(10.0, max(0.0, value)), 1)


def _verdicts(rubric: Rubric, quality: float, rng: random.Random) -> dict[str, Verdict]:
    verdicts = {}
    for c in rubric.criteria:
        if c.kind == "hard":
            passed = quality + rng.gauss(0, 1.5) > 5.5
            score = 10.0 if passed else 0.0
        else:
            score = _clip(rng.gauss(quality, 1.1))
            passed = score >= rubric.floor
        verdicts[c.key] = Verdict(
            c.key,
            score,
            passed,
            "Generated evidence.",
            "Keep this as it is." if passed else f"Improve: {c.description}",
        )
    return verdicts


def _revised(rubric: Rubric, before: dict[str, Verdict], rng: random.Random) -> dict[str, Verdict]:
    after = {}
    for c in rubric.criteria:
        v = before[c.key]
        if v.passed:
            after[c.key] = v
        elif c.kind == "hard":
            passed = rng.random() < 0.8
            after[c.key] = Verdict(c.key, 10.0 if passed else 0.0, passed, v.evidence, v.feedback)
        else:
            score = _clip(v.score + rng.uniform(1.0, 3.0))
            after[c.key] = Verdict(c.key, score, score >= rubric.floor, v.evidence, v.feedback)
    return after


@transaction.atomic
def seed_history(agent: Agent, rubric_text: str, *, weak: bool = False) -> int:
    """Publish the rubric (two versions) and DAYS of graded runs; returns runs created."""
    if Run.objects.filter(agent=agent).exists():
        return 0
    now = timezone.now()
    start = now - timedelta(days=DAYS)
    # Version 1 had a lower floor; version 2 (the text given) raised it.
    older = rubric_text.replace("floor: 7.5", "floor: 7")
    v1 = services.save_rubric(agent, older, None, note="First rubric")
    v2 = services.save_rubric(agent, rubric_text, None, note="Raised the floor to 7.5")
    switch = now - timedelta(days=DAYS * 2 // 5)
    RubricVersion.objects.filter(pk=v1.pk).update(created_at=start)
    RubricVersion.objects.filter(pk=v2.pk).update(created_at=switch)
    rubrics = {v1.pk: load_rubric(v1.source), v2.pk: load_rubric(v2.source)}
    version = AgentVersion.objects.filter(agent=agent).order_by("-number").first()
    assert version is not None  # noqa: S101 (save_agent made one)
    rng = random.Random(zlib.crc32(agent.name.encode()))  # noqa: S311 (demo data)
    quality = 7.8 if weak else 8.4
    total = (now - start).total_seconds()
    when = start + timedelta(hours=2)
    runs: list[Run] = []
    plans: list[tuple[Run, Rubric, RubricVersion, list[dict[str, Verdict]]]] = []
    step = _cadence(agent)
    while when < now - timedelta(hours=1):
        # Mean-reverting around a target: steady for a good agent, sliding from
        # 7.8 to 5 over the months for the weak one.
        share = (when - start).total_seconds() / total
        target = 7.8 - 2.8 * share if weak else 8.4
        quality = min(9.6, max(3.0, quality + 0.2 * (target - quality) + rng.gauss(0, 0.3)))
        rubric_version = v2 if when >= switch else v1
        rubric = rubrics[rubric_version.pk]
        passes = [_verdicts(rubric, quality, rng)]
        while not attempt_passes(rubric, passes[-1]) and len(passes) <= rubric.max_revisions:
            passes.append(_revised(rubric, passes[-1], rng))
        not_graded = rng.random() < 0.03
        final = passes[-1]
        if not_graded:
            status = Run.Status.NOT_GRADED
        elif attempt_passes(rubric, final):
            status = Run.Status.SUCCEEDED
        else:
            status = Run.Status.FAILED_GRADE
        agent_cost = Decimal(str(round(rng.uniform(0.02, 0.05) * len(passes), 6)))
        grader_cost = Decimal(str(round(0.004 * len(passes), 6)))
        run = Run(
            agency_id=agent.agency_id,
            agent=agent,
            version=version,
            trigger=Run.Trigger.SCHEDULE,
            scheduled_for=when,
            status=status,
            queued_at=when,
            started_at=when,
            finished_at=when + timedelta(seconds=40 + 30 * len(passes)),
            output=GENERATED_NOTE,
            error="Not graded: the grader's answer did not validate." if not_graded else "",
            rubric_version=rubric_version,
            score=None if not_graded else round(overall_score(rubric, final), 2),
            first_pass_score=round(overall_score(rubric, passes[0]), 2),
            revisions=len(passes) - 1,
            cost_usd=agent_cost,
            grader_cost_usd=grader_cost,
            input_tokens=4200 * len(passes),
            output_tokens=900 * len(passes),
            attempt=1,
        )
        runs.append(run)
        plans.append((run, rubric, rubric_version, passes))
        when += step * rng.uniform(0.98, 1.02) if step < timedelta(days=1) else step
    Run.objects.bulk_create(runs)
    attempts = [
        Attempt(
            agency_id=agent.agency_id,
            run=run,
            number=n,
            status="succeeded",
            output=GENERATED_NOTE,
            cost_usd=run.cost_usd / len(passes),
            started_at=run.queued_at,
            finished_at=run.finished_at,
        )
        for run, _, _, passes in plans
        for n in range(1, len(passes) + 1)
    ]
    Attempt.objects.bulk_create(attempts)
    by_run: dict[int, list[Attempt]] = {}
    for attempt in attempts:
        by_run.setdefault(attempt.run_id, []).append(attempt)
    grades = []
    for run, rubric, rubric_version, passes in plans:
        for attempt, verdicts in zip(by_run[run.pk], passes, strict=True):
            error = run.status == Run.Status.NOT_GRADED and attempt.number == len(passes)
            passed = attempt_passes(rubric, verdicts)
            grades.append(
                Grade(
                    agency_id=agent.agency_id,
                    attempt=attempt,
                    rubric_version=rubric_version,
                    status=Grade.Status.ERROR
                    if error
                    else Grade.Status.PASSED
                    if passed
                    else Grade.Status.FAILED,
                    score=None if error else round(overall_score(rubric, verdicts), 2),
                    verdicts=[] if error else verdict_rows(rubric, verdicts),
                    samples=[] if error else [round(overall_score(rubric, verdicts), 2)],
                    grader_model=agent.model.model,
                    calls=1,
                    cost_usd=Decimal("0.004"),
                    error="The grader did not judge every criterion." if error else "",
                    created_at=run.finished_at or run.queued_at,
                )
            )
    Grade.objects.bulk_create(grades)
    return len(runs)
