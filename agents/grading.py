"""Graded runs: each attempt is graded, and a failed one is revised with the feedback.

`run_graded` is called by `services.execute_run` for an agent with a rubric.
Attempts and grades are rows as they happen, so a run whose worker died picks
up where it stopped: a finished attempt is not redone, and a grade already
stored for an (attempt, rubric version) is never paid for twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from agents.engine.grader import GradeJob, grade
from agents.engine.llm import ModelClient
from agents.engine.loop import EventSink
from agents.engine.rubric import Rubric, Verdict, rubric_from_data
from agents.engine.sandbox import collect_files
from agents.engine.types import AgentJob, RunOutcome
from agents.ledger import remaining_runtime, trace_totals
from agents.models import Attempt, Grade, ModelPrice, RubricVersion, Run

logger = logging.getLogger(__name__)


def current_rubric(agent_id: int) -> RubricVersion | None:
    return RubricVersion.objects.filter(agent_id=agent_id).order_by("-number").first()


def rubric_of(version: RubricVersion) -> Rubric:
    """The version's rubric, from its saved definition (checked and normalised on save).

    Not from `source`: the text is kept for the editor, and text saved before a
    check was added (anchors, a size limit) must still grade as it was published.
    """
    return rubric_from_data(version.definition)


def revision_prompt(task: str, number: int, previous: Attempt, grade_row: Grade) -> str:
    """The prompt of revision `number`: the task, what failed and why, the last deliverable."""
    points = "\n".join(
        f"- {v['key']} ({_score_text(v)}): {v['feedback']}"
        for v in grade_row.verdicts
        if not v["passed"]
    )
    return (
        f"{task}\n\n## Revision {number} of this run\n\n"
        f"Your previous deliverable was graded against the rubric and did not pass "
        f"(score {grade_row.score:.1f}). Write the whole deliverable again: keep what "
        f"worked, and fix each point the grader raised.\n\n{points}\n\n"
        f"### Your previous deliverable\n\n{previous.output}"
    )


def _score_text(verdict: dict[str, Any]) -> str:
    if verdict.get("kind") == "hard":
        return "failed"
    return f"{verdict['score']:g}/10"


def run_graded(
    run: Run,
    ours: QuerySet[Run],
    job: AgentJob,
    rubric_version: RubricVersion,
    client: ModelClient,
    sink: EventSink,
    run_pass: Callable[[AgentJob], RunOutcome],
    workspace: Path,
    should_stop: Callable[[], bool],
) -> tuple[str, str, str]:
    """Run, grade and revise until a pass, the revision limit or the cost cap.

    Returns (status, output, error) for the run.
    """
    rubric = rubric_of(rubric_version)
    grader_job = _grader_job(run, rubric, job)
    ours.update(rubric_version=rubric_version)
    done = {a.number: a for a in Attempt.objects.filter(run=run)}
    number = 1
    prompt = job.prompt
    feedback: list[dict[str, Any]] = []
    revision_spend = Decimal(0)
    last: Attempt | None = None
    while True:
        attempt = done.get(number)
        if attempt is None or attempt.finished_at is None:
            if attempt is not None:
                attempt.delete()  # its worker died mid-pass: do it again
            attempt, outcome = _run_attempt(run, number, prompt, feedback, job, run_pass)
            if last is not None and outcome.status in ("failed", "skipped"):
                # The revision broke down (a model error, the cost cap reached
                # mid-pass): the run keeps its last graded deliverable, which failed.
                return (
                    Run.Status.FAILED_GRADE,
                    last.output,
                    f"Revision {number - 1} stopped: {outcome.error}",
                )
            if outcome.status != "succeeded":
                return outcome.status, outcome.output, outcome.error
        elif attempt.status != "succeeded":
            return attempt.status, attempt.output, attempt.error
        grade_row = _grade_once(
            run, attempt, rubric_version, rubric, grader_job, client, sink, workspace
        )
        pass_cost = attempt.cost_usd + grade_row.cost_usd
        if number > 1:
            revision_spend += pass_cost
        _record_scores(ours, number, grade_row)
        if grade_row.status == Grade.Status.ERROR:
            return Run.Status.NOT_GRADED, attempt.output, f"Not graded: {grade_row.error}"
        if grade_row.status == Grade.Status.PASSED:
            return Run.Status.SUCCEEDED, attempt.output, ""
        missed = (
            f"Attempt {number} scored {grade_row.score:.1f} against a floor of "
            f"{rubric.floor:g}" + _failed_gates(grade_row)
        )
        if number > rubric.max_revisions:
            limit = rubric.max_revisions
            return (
                Run.Status.FAILED_GRADE,
                attempt.output,
                f"{missed}; no revision left (the rubric allows {limit}).",
            )
        cap = rubric.revision_cost_cap_usd
        # Checked between passes, with the last pass's cost as the guess at the
        # next one's. (Not as the engine's budget: its guard assumes the worst
        # case, every output token used, and would refuse nearly any revision.)
        if cap is not None and revision_spend + pass_cost > cap:
            return (
                Run.Status.FAILED_GRADE,
                attempt.output,
                f"{missed}; another revision could pass the revision cost cap of ${cap} "
                f"(${revision_spend:.4f} spent on revisions, the last pass cost "
                f"${pass_cost:.4f}).",
            )
        if should_stop():
            return Run.Status.CANCELLED, attempt.output, "Cancelled."
        number += 1
        prompt = revision_prompt(job.prompt, number - 1, attempt, grade_row)
        feedback = [v for v in grade_row.verdicts if not v["passed"]]
        last = attempt


def _failed_gates(grade_row: Grade) -> str:
    gates = [v["key"] for v in grade_row.verdicts if v.get("kind") == "hard" and not v["passed"]]
    return (
        f", and failed the gate{'s' if len(gates) > 1 else ''} {', '.join(gates)}" if gates else ""
    )


def _run_attempt(
    run: Run,
    number: int,
    prompt: str,
    feedback: list[dict[str, Any]],
    job: AgentJob,
    run_pass: Callable[[AgentJob], RunOutcome],
) -> tuple[Attempt, RunOutcome]:
    spent = Decimal(trace_totals(run)["cost_usd"])
    attempt = Attempt.objects.create(
        agency_id=run.agency_id, run=run, number=number, feedback=feedback
    )
    sink_job = replace(
        job,
        prompt=prompt,
        spent_usd=spent,
        max_runtime=remaining_runtime(run),
    )
    outcome = run_pass(sink_job)
    attempt.status = outcome.status
    attempt.output = outcome.output
    attempt.error = outcome.error
    attempt.cost_usd = outcome.cost_usd - spent
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["status", "output", "error", "cost_usd", "finished_at"])
    return attempt, outcome


def _grader_job(run: Run, rubric: Rubric, job: AgentJob) -> GradeJob:
    """The grader's call: its own model, the agent's task, retry policy and secrets."""
    definition = run.version.definition
    price = ModelPrice.objects.get(model=definition.get("grader_model") or definition["model"])
    return GradeJob(
        model=price.model,
        price=price.engine_price(),
        rubric=rubric,
        task=job.prompt,
        output="",
        retry=job.retry,
        secrets=job.secrets,
    )


def _grade_once(
    run: Run,
    attempt: Attempt,
    version: RubricVersion,
    rubric: Rubric,
    grader_job: GradeJob,
    client: ModelClient,
    sink: EventSink,
    workspace: Path,
) -> Grade:
    """The stored grade for (attempt, rubric version), else a new one from the grader."""
    existing = Grade.objects.filter(attempt=attempt, rubric_version=version).first()
    if existing is not None:
        return existing
    files, _notes = (
        collect_files(workspace, settings.ARTIFACT_MAX_FILE_BYTES, settings.ARTIFACT_MAX_RUN_BYTES)
        if workspace.is_dir()
        else ([], [])
    )
    artifacts = tuple((f.path, f.content.decode("utf-8", errors="replace")) for f in files)
    result = grade(
        replace(grader_job, output=attempt.output, artifacts=artifacts),
        client,
        sink,
        attempt_number=attempt.number,
    )
    if result.verdicts is None:
        status = Grade.Status.ERROR
    else:
        status = Grade.Status.PASSED if result.passed else Grade.Status.FAILED
    usage = result.usage
    return Grade.objects.create(
        agency_id=run.agency_id,
        attempt=attempt,
        rubric_version=version,
        status=status,
        score=result.score,
        verdicts=verdict_rows(rubric, result.verdicts),
        samples=list(result.samples),
        grader_model=grader_job.model,
        calls=result.calls,
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=result.cost_usd,
        error=result.error,
    )


def verdict_rows(rubric: Rubric, verdicts: dict[str, Verdict] | None) -> list[dict[str, Any]]:
    if verdicts is None:
        return []
    return [
        {
            "key": c.key,
            "kind": c.kind,
            "weight": c.weight,
            "score": verdicts[c.key].score,
            "passed": verdicts[c.key].passed,
            "evidence": verdicts[c.key].evidence,
            "feedback": verdicts[c.key].feedback,
        }
        for c in rubric.criteria
    ]


def _record_scores(ours: QuerySet[Run], number: int, grade_row: Grade) -> None:
    fields: dict[str, Any] = {"score": grade_row.score, "revisions": number - 1}
    if number == 1:
        fields["first_pass_score"] = grade_row.score
    ours.update(**fields)


# ------------------------------------------------------------------ for the run page


@dataclass(frozen=True)
class CriterionRow:
    key: str
    kind: str
    weight: float
    score: float
    passed: bool
    evidence: str
    feedback: str
    # "fixed" or "broke" against the attempt before; "" when unchanged or first.
    flip: str


@dataclass(frozen=True)
class AttemptSummary:
    attempt: Attempt
    grade: Grade | None
    rows: tuple[CriterionRow, ...]

    @property
    def label(self) -> str:
        n = self.attempt.number
        return "First pass" if n == 1 else f"Revision {n - 1}"


def attempt_summaries(run: Run) -> list[AttemptSummary]:
    """Every attempt with its grade under the run's rubric version and what flipped."""
    attempts = Attempt.objects.filter(run=run).order_by("number").prefetch_related("grades")
    summaries: list[AttemptSummary] = []
    before: dict[str, bool] = {}
    for attempt in attempts:
        grade_row = next(
            (g for g in attempt.grades.all() if g.rubric_version_id == run.rubric_version_id),
            None,
        )
        rows = []
        for v in grade_row.verdicts if grade_row else []:
            flip = ""
            if v["key"] in before and before[v["key"]] != v["passed"]:
                flip = "fixed" if v["passed"] else "broke"
            rows.append(
                CriterionRow(
                    v["key"],
                    v["kind"],
                    v["weight"],
                    v["score"],
                    v["passed"],
                    v["evidence"],
                    v["feedback"],
                    flip,
                )
            )
        if grade_row and grade_row.verdicts:
            before = {v["key"]: v["passed"] for v in grade_row.verdicts}
        summaries.append(AttemptSummary(attempt, grade_row, tuple(rows)))
    return summaries
