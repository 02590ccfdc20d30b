"""The grader: a separate model call that judges one attempt against the rubric.

It runs in a fresh context (it never sees the agent's conversation, only what
was asked, the deliverable and the files left behind) and must answer through
one forced tool call, `submit_verdicts`. The answer is checked at the boundary
(`rubric.parse_verdicts`): anything doubtful is a grader error, asked again a
few times, and if it stays doubtful the attempt is *not graded*, never passed.

A grade within the rubric's `regrade_margin` of the floor is taken twice more
and the median kept, so one noisy call does not decide a pass.
"""

from __future__ import annotations

import functools
import random
import statistics
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from agents.engine.forced import TRACE_TEXT_CHARS, ForcedAnswer, call_forced_tool
from agents.engine.llm import ModelClient, ModelRequest
from agents.engine.loop import Clock, EventSink, SystemClock, capped, redact
from agents.engine.rubric import (
    VERDICT_TEXT_CHARS,
    GraderOutputError,
    Rubric,
    Verdict,
    attempt_passes,
    overall_score,
    parse_verdicts,
    rubric_as_json,
)
from agents.engine.types import Event, ModelPrice, RetryPolicy, ToolSpec, Usage

TOOL_NAME = "submit_verdicts"
SAMPLES_NEAR_FLOOR = 3
# Characters of each artifact, and of all of them, the grader reads.
ARTIFACT_CHARS = 8_000
ARTIFACTS_TOTAL_CHARS = 40_000
# After an answer cut off at max_tokens, the next call gets twice the room, up to this.
MAX_TOKENS_CEILING = 16_384

GRADER_SYSTEM = (
    "You are a strict, fair grader for a digital agency. You judge one piece of work "
    "against a rubric. You did not write the work and you owe it nothing. For every "
    "criterion, quote the passage of the work your judgement rests on (or say what is "
    "missing), and give concrete feedback the author can act on. Hard criteria are "
    "pass or fail. Soft criteria are scored 0 to 10 and pass when the score reaches "
    "the rubric's floor. Answer only by calling the submit_verdicts tool, once, with "
    "one verdict for every criterion: its pass flag, a score from 0 to 10 that agrees "
    "with it (a hard criterion's is 10 if it passes, 0 if not), and non-empty evidence "
    "and feedback. Be concise: evidence is a short quote or pointer (a sentence or "
    "two), feedback a few sentences at most."
)


@dataclass(frozen=True)
class GradeJob:
    model: str
    price: ModelPrice
    rubric: Rubric
    task: str
    output: str
    # (path, text) of files the attempt left; binary files are named, not shown.
    artifacts: tuple[tuple[str, str], ...] = ()
    max_tokens: int = 4096
    call_timeout: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Calls in all when the answer does not validate.
    invalid_attempts: int = 3
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class GradeResult:
    """A trusted grade, or (verdicts None) the reason there is none."""

    verdicts: dict[str, Verdict] | None
    score: float | None
    passed: bool
    samples: tuple[float, ...]
    usage: Usage
    cost_usd: Decimal
    calls: int
    error: str = ""

    @property
    def graded(self) -> bool:
        return self.verdicts is not None


def verdict_tool(rubric: Rubric) -> ToolSpec:
    """The tool the grader must call: its schema says what `parse_verdicts` enforces."""
    keys = [c.key for c in rubric.criteria]
    floor = f"{rubric.floor:g}"
    text = {"type": "string", "minLength": 1, "maxLength": VERDICT_TEXT_CHARS}
    verdict = {
        "type": "object",
        "properties": {
            "key": {"type": "string", "enum": keys},
            "passed": {"type": "boolean"},
            "score": {
                "type": "number",
                "minimum": 0,
                "maximum": 10,
                "description": f"0 to 10. It must agree with `passed`: {floor} or more if "
                f"passed, below {floor} if not. A hard criterion's is 10 or 0.",
            },
            "evidence": {
                **text,
                "description": "A short quote from the work (a sentence or two), or what "
                "is missing from it. Not blank.",
            },
            "feedback": {
                **text,
                "description": "What to change, concretely and briefly (a few sentences). "
                "Not blank, above all when failed.",
            },
        },
        "required": ["key", "passed", "score", "evidence", "feedback"],
    }
    return ToolSpec(
        name=TOOL_NAME,
        description="Submit one verdict for every criterion of the rubric.",
        input_schema={
            "type": "object",
            "properties": {
                "verdicts": {
                    "type": "array",
                    "items": verdict,
                    # Exactly one per criterion: none missing, none judged twice.
                    "minItems": len(keys),
                    "maxItems": len(keys),
                },
            },
            "required": ["verdicts"],
        },
    )


def grader_prompt(job: GradeJob) -> str:
    parts = [
        "## The task the work was done for\n\n" + job.task,
        "## Rubric\n\n```json\n" + rubric_as_json(job.rubric) + "\n```",
        "## The work to grade\n\n" + (job.output or "(The agent returned no text.)"),
    ]
    budget = ARTIFACTS_TOTAL_CHARS
    for path, text in job.artifacts:
        shown = text[: min(ARTIFACT_CHARS, max(budget, 0))]
        budget -= len(shown)
        more = "" if len(shown) == len(text) else f"\n\n(… {len(text) - len(shown)} more chars)"
        parts.append(f"## File left by the agent: {path}\n\n```\n{shown}\n```{more}")
    return "\n\n".join(parts)


def grade(
    job: GradeJob,
    client: ModelClient,
    sink: EventSink,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    attempt_number: int = 1,
) -> GradeResult:
    """Grade `job.output`; never raises for model failures or bad answers."""
    clock = clock or SystemClock()
    rng = rng or random.Random()  # noqa: S311 (jitter, not security)
    state = _State(job, client, sink, clock, rng, attempt_number)
    first = state.sample()
    if first is None:
        return state.result(None)
    samples = [first]
    score = overall_score(job.rubric, first)
    margin = job.rubric.regrade_margin
    if margin and abs(score - job.rubric.floor) <= margin:
        state.emit("grade.regrade", {"score": round(score, 3), "margin": margin})
        for _ in range(SAMPLES_NEAR_FLOOR - 1):
            extra = state.sample()
            if extra is None:
                return state.result(None)
            samples.append(extra)
    return state.result(samples)


@dataclass
class _State:
    job: GradeJob
    client: ModelClient
    sink: EventSink
    clock: Clock
    rng: random.Random
    attempt_number: int
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    calls: int = 0
    error: str = ""
    # Raised after an answer cut off at max_tokens, for the rest of this grade.
    max_tokens: int = 0

    def emit(self, type_: str, data: dict[str, Any], **kwargs: Any) -> None:
        """Redact, then cut each string for the trace: a cut must not split a secret."""
        data = redact({"attempt": self.attempt_number, **data}, self.job.secrets)
        self.sink.emit(Event(type_, capped(data, TRACE_TEXT_CHARS), **kwargs))

    def sample(self) -> dict[str, Verdict] | None:
        """One validated verdict set, asking again after a bad answer; None if none came."""
        for tries in range(1, self.job.invalid_attempts + 1):
            answer = self.call()
            if answer.tool_input is None and not answer.invalid:
                return None  # the model API failed: retried already, asking again won't help
            try:
                if answer.invalid:
                    if answer.stop_reason == "max_tokens":
                        self.more_room()
                    # Cut off or unreadable: never a verdict, however whole it looks.
                    raise GraderOutputError(answer.error)
                # Redacted before parse_verdicts cuts evidence and feedback to size.
                return _parse(self.job.rubric, redact(answer.tool_input, self.job.secrets))
            except GraderOutputError as exc:
                # A cut-off or unreadable answer's error already says what was wrong with it.
                self.error = (
                    str(exc) if answer.invalid else f"The grader's answer was not valid: {exc}"
                )
                self.emit(
                    "grade.invalid",
                    {"error": str(exc), "try": tries, "final": tries == self.job.invalid_attempts},
                )
        return None

    def more_room(self) -> None:
        """Twice the max_tokens for the next calls, up to MAX_TOKENS_CEILING (never less)."""
        current = self.max_tokens or self.job.max_tokens
        self.max_tokens = max(current, min(current * 2, MAX_TOKENS_CEILING))

    @property
    def request(self) -> ModelRequest:
        """The call's request, with the max_tokens this grade has reached."""
        base = self._request
        return replace(base, max_tokens=self.max_tokens) if self.max_tokens else base

    @functools.cached_property
    def _request(self) -> ModelRequest:
        """The same for every call of this grade (samples and retries): built once."""
        job = self.job
        return ModelRequest(
            model=job.model,
            system=GRADER_SYSTEM,
            messages=[{"role": "user", "content": grader_prompt(job)}],
            tools=(verdict_tool(job.rubric),),
            max_tokens=job.max_tokens,
            timeout=job.call_timeout,
            tool_choice={"type": "tool", "name": TOOL_NAME},
        )

    def call(self) -> ForcedAnswer:
        """One grader call, with transient errors retried; its spend is counted here."""
        job = self.job
        answer = call_forced_tool(
            self.client,
            self.request,
            job.price,
            job.retry,
            self.clock,
            self.rng,
            self.emit,
            "grade",
            "grader",
        )
        self.usage += answer.usage
        self.cost += answer.cost
        self.calls += int(answer.called)
        if answer.error:
            self.error = answer.error
        return answer

    def result(self, samples: list[dict[str, Verdict]] | None) -> GradeResult:
        if not samples:
            self.emit("grade.finished", {"graded": False, "error": self.error})
            return GradeResult(None, None, False, (), self.usage, self.cost, self.calls, self.error)
        scores = [overall_score(self.job.rubric, s) for s in samples]
        # The median sample (its verdicts and score), not a blend of several.
        median = statistics.median_low(scores)
        chosen = samples[scores.index(median)]
        passed = attempt_passes(self.job.rubric, chosen)
        self.emit(
            "grade.finished",
            {"graded": True, "score": round(median, 3), "passed": passed, "samples": scores},
        )
        return GradeResult(chosen, median, passed, tuple(scores), self.usage, self.cost, self.calls)


def _parse(rubric: Rubric, raw: Any) -> dict[str, Verdict]:
    if isinstance(raw, dict) and "_no_tool_call" in raw:
        raise GraderOutputError(
            f"The grader made {raw['_no_tool_call']} {TOOL_NAME} calls instead of one."
        )
    return parse_verdicts(rubric, raw)
