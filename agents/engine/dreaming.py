"""The dream: one model call that reads an agent's memory and recent graded runs and
proposes a change set for its memory. No Django.

The model answers through one forced tool call, `submit_memory_changes`. The
answer fails closed: a reply that does not validate, or that proposes nothing
without saying why, is a failed dream, never a success. Each valid change is
then held to two rules (`refusal`): grade weighting (only runs that met the
floor may add or strengthen a fact; a failed run may only add a failure-mode
note tagged with a criterion it failed) and the leak check (no change may name
another client of the agency).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from agents.engine.forced import call_forced_tool
from agents.engine.llm import ModelClient, ModelRequest
from agents.engine.loop import Clock, EventSink, SystemClock, redact
from agents.engine.memory import (
    CHANGE_SCHEMA,
    CHARS_PER_TOKEN,
    ChangeError,
    MemoryChange,
    MemoryNote,
    dump_notes,
    parse_change,
)
from agents.engine.types import Event, ModelPrice, RetryPolicy, ToolSpec, Usage

TOOL_NAME = "submit_memory_changes"
# Characters of each run's deliverable the dream reads.
OUTPUT_CHARS = 1_500

DREAM_SYSTEM = (
    "You curate the memory of an agent that does one recurring job for one client of a "
    "digital agency. Between runs you read its notes and the runs since you last looked, "
    "with their grades and the grader's feedback, and propose a change set that makes "
    "the next run better: add what recurs, edit what is out of date, supersede what is "
    "wrong, expire what no longer applies, reweight by how much it matters. Only runs "
    "that met the rubric's floor may add or strengthen a fact. A run that failed may "
    "only add a failure-mode note tagged failure:<criterion> for each criterion it "
    "failed, saying what went wrong and how to avoid it. Cite the ids of the runs each "
    "change rests on. Never name or describe any other client. If nothing should "
    "change, propose no change and say why in `reason`. Answer only by calling "
    "submit_memory_changes, once."
)


@dataclass(frozen=True)
class RunDigest:
    """What the dream reads of one run."""

    id: str
    finished: str
    status: str
    score: float | None
    met_floor: bool
    # (criterion key, the grader's feedback) for each criterion the run failed.
    failed: tuple[tuple[str, str], ...] = ()
    output: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "finished": self.finished,
            "status": self.status,
            "score": self.score,
            "met_floor": self.met_floor,
            "failed_criteria": [{"key": k, "feedback": f} for k, f in self.failed],
            "deliverable": self.output[:OUTPUT_CHARS],
        }


@dataclass(frozen=True)
class DreamJob:
    model: str
    price: ModelPrice
    task: str
    notes: tuple[MemoryNote, ...]
    runs: tuple[RunDigest, ...]
    floor: float | None
    # Tokens the whole call may use: the prompt is cut to fit beside max_tokens.
    token_budget: int
    max_tokens: int = 4096
    call_timeout: float = 180.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    secrets: tuple[str, ...] = ()


DreamStatus = Literal["changes", "no_change", "failed"]


@dataclass(frozen=True)
class DreamOutcome:
    status: DreamStatus
    changes: tuple[MemoryChange, ...]
    reason: str
    error: str
    tool_input: Any
    prompt: str
    # The runs the prompt had room for, newest first: the only valid evidence.
    runs_read: tuple[str, ...]
    usage: Usage
    cost_usd: Decimal


def dream_tool() -> ToolSpec:
    return ToolSpec(
        name=TOOL_NAME,
        description="Submit the change set for the agent's memory (empty, with a reason, "
        "if nothing should change).",
        input_schema={
            "type": "object",
            "properties": {
                "changes": {"type": "array", "items": CHANGE_SCHEMA},
                "reason": {
                    "type": "string",
                    "description": "Required when there are no changes: why none.",
                },
            },
            "required": ["changes"],
        },
    )


def dream_prompt(job: DreamJob) -> tuple[str, tuple[str, ...]]:
    """The prompt, and the ids of the runs it holds: newest first, as many as the budget allows."""
    floor = "no rubric" if job.floor is None else f"{job.floor:g}"
    head = (
        f"## The agent's job\n\n{job.task}\n\n"
        f"## Its memory now\n\n```json\n{dump_notes(job.notes)}\n```\n\n"
        f"## Runs since the last dream (newest first; rubric floor {floor})\n\n"
    )
    room = (job.token_budget - job.max_tokens) * CHARS_PER_TOKEN - len(DREAM_SYSTEM) - len(head)
    shown: list[str] = []
    blocks: list[str] = []
    for run in job.runs:
        block = "```json\n" + json.dumps(run.as_dict(), indent=1, ensure_ascii=False) + "\n```\n"
        if len(block) > room:
            break
        room -= len(block)
        blocks.append(block)
        shown.append(run.id)
    left = len(job.runs) - len(shown)
    tail = f"\n({left} older runs did not fit the dream's token budget.)\n" if left else ""
    return head + "\n".join(blocks) + tail, tuple(shown)


def parse_change_set(
    raw: Any, live_keys: set[str]
) -> tuple[tuple[MemoryChange, ...], str, list[str]]:
    """(changes, reason, problems): any problem fails the whole dream."""
    if isinstance(raw, dict) and "_no_tool_call" in raw:
        return (), "", [f"The dream made {raw['_no_tool_call']} {TOOL_NAME} calls instead of one."]
    if not isinstance(raw, dict) or not isinstance(raw.get("changes"), list):
        return (), "", ["The answer has no list of changes."]
    reason = raw.get("reason", "")
    reason = reason.strip() if isinstance(reason, str) else ""
    problems: list[str] = []
    changes: list[MemoryChange] = []
    keys = set(live_keys)
    touched: set[str] = set()
    for n, item in enumerate(raw["changes"], 1):
        try:
            change = parse_change(item, keys)
        except ChangeError as exc:
            problems.append(f"Change {n}: {exc}")
            continue
        targets = {change.key, change.replaces} - {""}
        if targets & touched:
            problems.append(f"Change {n}: {', '.join(sorted(targets & touched))} is changed twice.")
            continue
        touched |= targets
        if change.operation in ("add", "supersede"):
            keys.add(change.key)
        changes.append(change)
    if not problems and not changes and not reason:
        problems.append("The dream proposed no change and gave no reason.")
    return tuple(changes), reason, problems


def refusal(
    change: MemoryChange,
    runs: dict[str, RunDigest],
    weights: dict[str, float],
    leak_terms: Sequence[tuple[str, str]],
) -> str:
    """Why `change` may not be made (empty if it may): grade weighting, evidence, leaks."""
    leak = find_leak(change, leak_terms)
    if leak:
        return f"Refused by the leak check: it names {leak}."
    unknown = [r for r in change.runs if r not in runs]
    if unknown:
        return f"Cites run {unknown[0]}, which this dream did not read."
    failure = change.failure_criteria
    if failure and change.operation in ("add", "edit", "supersede"):
        if not change.runs:
            return "A failure-mode note must cite the failed runs it comes from."
        failed = {key for r in change.runs for key, _ in runs[r].failed}
        missing = [c for c in failure if c not in failed]
        if missing:
            return f"Tagged failure:{missing[0]}, but no cited run failed that criterion."
        return ""
    strengthens = change.operation in ("add", "edit", "supersede") or (
        change.operation == "reweight"
        and change.weight is not None
        and change.weight > weights.get(change.key, 0.0)
    )
    if not strengthens:
        return ""
    if not change.runs:
        return "Adds or strengthens a fact without citing a run that met the floor."
    below = [r for r in change.runs if not runs[r].met_floor]
    if below:
        return (
            f"Rests on run {below[0]}, which did not meet the floor: only runs that met it "
            "may add or strengthen a fact."
        )
    return ""


def find_leak(change: MemoryChange, terms: Sequence[tuple[str, str]]) -> str:
    """The label of the first term (another client's name, domain or contact) in the change."""
    text = " ".join((change.key, change.title, change.body, " ".join(change.tags))).lower()
    for term, label in terms:
        needle = term.lower().strip()
        if not needle:
            continue
        if re.search(rf"(?<![\w.@-]){re.escape(needle)}(?![\w-])", text):
            return label
    return ""


def dream(
    job: DreamJob,
    client: ModelClient,
    sink: EventSink,
    clock: Clock | None = None,
    rng: random.Random | None = None,
) -> DreamOutcome:
    """Ask for a change set and check its shape; never raises for model failures."""
    clock = clock or SystemClock()
    rng = rng or random.Random()  # noqa: S311 (jitter, not security)
    prompt, shown = dream_prompt(job)

    def emit(type_: str, data: dict[str, Any], **kwargs: Any) -> None:
        sink.emit(Event(type_, redact(data, job.secrets), **kwargs))

    request = ModelRequest(
        model=job.model,
        system=DREAM_SYSTEM,
        messages=[{"role": "user", "content": prompt}],
        tools=(dream_tool(),),
        max_tokens=job.max_tokens,
        timeout=job.call_timeout,
        tool_choice={"type": "tool", "name": TOOL_NAME},
    )
    answer = call_forced_tool(
        client, request, job.price, job.retry, clock, rng, emit, "dream", "dream"
    )
    prompt = redact(prompt, job.secrets)
    if answer.tool_input is None:
        return DreamOutcome(
            "failed", (), "", answer.error, None, prompt, shown, answer.usage, answer.cost
        )
    live = {n.key for n in job.notes if not n.playbook}
    changes, reason, problems = parse_change_set(answer.tool_input, live)
    if problems:
        error = "The dream's answer was not valid: " + " ".join(problems)
        emit("dream.invalid", {"problems": problems})
        return DreamOutcome(
            "failed", (), reason, error, answer.tool_input, prompt, shown, answer.usage, answer.cost
        )
    status: DreamStatus = "changes" if changes else "no_change"
    return DreamOutcome(
        status, changes, reason, "", answer.tool_input, prompt, shown, answer.usage, answer.cost
    )
