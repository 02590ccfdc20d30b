"""The agent loop: call the model, run the tools it asks for, until it ends its turn.

Every step goes to the event sink as it happens. The loop stops, with a reason,
at the run's deadline, before a call that could pass the run's budget, after
`max_turns`, on a permanent model error, or once transient errors (or replies
that cannot be read) have used up the retry policy.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from agents.engine.errors import (
    MalformedModelOutputError,
    ModelError,
    PermanentModelError,
    TransientModelError,
)
from agents.engine.llm import ModelClient, ModelRequest, ModelTurn
from agents.engine.pricing import PER_TOKEN, cost_of
from agents.engine.types import (
    AgentJob,
    Event,
    RetryPolicy,
    RunOutcome,
    RunStatus,
    ToolResult,
    ToolSpec,
    Usage,
)

# A rough, deliberately generous size of a token, for the budget guard only.
CHARS_PER_TOKEN = 3
# How much of an unreadable tool input, and of a tool's result, the trace keeps.
PARTIAL_CHARS = 1_000
TOOL_RESULT_CHARS = 4_000
CUT = "… [cut]"


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class ToolBox(Protocol):
    def specs(self) -> tuple[ToolSpec, ...]: ...

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class NoTools:
    def specs(self) -> tuple[ToolSpec, ...]:
        return ()

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult(f"No tool named {name!r} is available.", is_error=True)


def redact(value: Any, secrets: tuple[str, ...]) -> Any:
    """Replace every secret inside `value` (str, list or dict, nested) with a marker."""
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "[redacted]")
        return value
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: redact(v, secrets) for k, v in value.items()}
    return value


def capped(value: Any, limit: int, marker: str = CUT) -> Any:
    """`value` (str, list or dict, nested) with every string longer than `limit` cut.

    Cut only what is redacted already: a cut through a secret leaves a piece of
    it that `redact` no longer recognises.
    """
    if isinstance(value, str) and len(value) > limit:
        return value[: max(limit - len(marker), 0)] + marker
    if isinstance(value, list):
        return [capped(v, limit, marker) for v in value]
    if isinstance(value, dict):
        return {k: capped(v, limit, marker) for k, v in value.items()}
    return value


def backoff_delay(
    attempt: int, retry: RetryPolicy, retry_after: float | None, rng: random.Random
) -> float:
    """Exponential backoff with full jitter, never shorter than the server's retry-after."""
    ceiling = min(retry.max_backoff, retry.base_backoff * (2**attempt))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


@dataclass
class _Run:
    job: AgentJob
    sink: EventSink
    clock: Clock
    started: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost: Decimal = Decimal(0)
    last_prompt_tokens: int = 0
    pending_chars: int = 0

    def emit(self, type_: str, data: dict[str, Any], **kwargs: Any) -> None:
        self.sink.emit(Event(type_, redact(data, self.job.secrets), **kwargs))

    def cut(self, text: str, limit: int) -> str:
        """`text` redacted, then cut to `limit` characters (in that order)."""
        return str(capped(redact(text, self.job.secrets), limit, ""))

    def give_up(
        self,
        exc: ModelError,
        status: RunStatus,
        error: str,
        turn_number: int,
        spent_ms: int = 0,
        **spend: Any,
    ) -> RunOutcome:
        """Record the model error that ends the run, and end it.

        `spend` (usage, cost_usd) is what a failed call cost when it cost anything.
        """
        self.emit(
            "model.error",
            {"turn": turn_number, "error": exc.message, "status": exc.status, "final": True},
            duration_ms=spent_ms,
            **spend,
        )
        return self.outcome(status, error=error, turns=turn_number - 1)

    def remaining(self) -> float:
        return self.job.max_runtime - (self.clock.monotonic() - self.started)

    def worst_case_cost(self) -> Decimal:
        """What the next call could cost at most: all input uncached, all output used."""
        prompt = self.last_prompt_tokens + self.pending_chars // CHARS_PER_TOKEN
        if not self.last_prompt_tokens:
            prompt += (len(self.job.system) + len(self.job.prompt)) // CHARS_PER_TOKEN
        price = self.job.price
        return (
            prompt * max(price.input, price.cache_write) + self.job.max_tokens * price.output
        ) / PER_TOKEN

    def outcome(
        self, status: RunStatus, output: str = "", error: str = "", turns: int = 0
    ) -> RunOutcome:
        self.emit("run.finished", {"status": status, "error": error, "turns": turns})
        return RunOutcome(
            status,
            redact(output, self.job.secrets),
            self.usage,
            self.cost,
            turns,
            redact(error, self.job.secrets),
        )


def run_agent(
    job: AgentJob,
    client: ModelClient,
    sink: EventSink,
    tools: ToolBox | None = None,
    clock: Clock | None = None,
    on_text: Callable[[str], None] | None = None,
    rng: random.Random | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunOutcome:
    """Run `job` to the end and return how it ended; never raises for model or tool failures.

    `should_stop` is asked before every model call and tool call; when it says
    yes the run ends `cancelled` at that step.
    """
    tools = tools or NoTools()
    clock = clock or SystemClock()
    rng = rng or random.Random()  # noqa: S311 (jitter, not security)
    run = _Run(job, sink, clock, clock.monotonic(), cost=job.spent_usd)
    run.messages.append({"role": "user", "content": job.prompt})
    run.emit(
        "run.started",
        {"model": job.model, "prompt": job.prompt, "tools": [t.name for t in tools.specs()]},
    )

    stop = should_stop or (lambda: False)
    for turn_number in range(1, job.max_turns + 1):
        if stop():
            return run.outcome("cancelled", error="Cancelled.", turns=turn_number - 1)
        if job.budget_usd is not None and run.cost + run.worst_case_cost() > job.budget_usd:
            return run.outcome(
                "skipped" if turn_number == 1 and not job.spent_usd else "failed",
                error=f"Stopped before model call {turn_number}: it could cost up to "
                f"${run.worst_case_cost():.4f}, and ${run.cost:.4f} of the "
                f"${job.budget_usd} budget is spent.",
                turns=turn_number - 1,
            )
        turn = _call_with_retries(run, client, tools, turn_number, on_text, rng, stop)
        if isinstance(turn, RunOutcome):
            return turn
        run.messages.append({"role": "assistant", "content": turn.content})
        if turn.stop_reason != "tool_use" or not turn.tool_uses:
            if turn.stop_reason in ("end_turn", "stop_sequence"):
                return run.outcome("succeeded", output=turn.text, turns=turn_number)
            return run.outcome(
                "failed",
                output=turn.text,
                error=f"The model stopped with {turn.stop_reason!r} before finishing.",
                turns=turn_number,
            )
        results = []
        for use in turn.tool_uses:
            if stop():
                return run.outcome(
                    "cancelled", output=turn.text, error="Cancelled.", turns=turn_number
                )
            results.append(_run_tool(run, tools, use))
        run.messages.append({"role": "user", "content": results})
        run.pending_chars = len(json.dumps(results)) + len(json.dumps(turn.content))
    return run.outcome(
        "failed",
        error=f"Gave up after {job.max_turns} model calls without an answer.",
        turns=job.max_turns,
    )


def _call_with_retries(
    run: _Run,
    client: ModelClient,
    tools: ToolBox,
    turn_number: int,
    on_text: Callable[[str], None] | None,
    rng: random.Random,
    stop: Callable[[], bool],
) -> ModelTurn | RunOutcome:
    job = run.job
    for attempt in range(job.retry.attempts):
        if attempt and stop():
            return run.outcome("cancelled", error="Cancelled.", turns=turn_number - 1)
        remaining = run.remaining()
        if remaining <= 0:
            return run.outcome(
                "timed_out",
                error=f"The run passed its maximum runtime of {job.max_runtime:.0f} s.",
                turns=turn_number - 1,
            )
        request = ModelRequest(
            model=job.model,
            system=job.system,
            messages=run.messages,
            tools=tools.specs(),
            max_tokens=job.max_tokens,
            timeout=min(job.call_timeout, remaining),
        )
        started = run.clock.monotonic()
        try:
            turn = client.complete(request, on_text)
        except TransientModelError as exc:
            spent = int((run.clock.monotonic() - started) * 1000)
            if attempt + 1 >= job.retry.attempts:
                return run.give_up(
                    exc,
                    "failed",
                    f"The model API kept failing ({exc.message}) "
                    f"after {job.retry.attempts} attempts.",
                    turn_number,
                    spent,
                )
            delay = backoff_delay(attempt, job.retry, exc.retry_after, rng)
            if delay >= run.remaining():
                return run.give_up(
                    exc,
                    "timed_out",
                    f"No time left to retry after: {exc.message}",
                    turn_number,
                    spent,
                )
            run.emit(
                "model.retry",
                {
                    "turn": turn_number,
                    "attempt": attempt + 1,
                    "error": exc.message,
                    "status": exc.status,
                    "wait_s": round(delay, 2),
                },
                duration_ms=spent,
            )
            run.clock.sleep(delay)
            continue
        except PermanentModelError as exc:
            return run.give_up(
                exc, "failed", f"The model API refused the request: {exc.message}", turn_number
            )
        except MalformedModelOutputError as exc:
            # The reply came and was paid for, but cannot be read (its tool input is not
            # JSON): count its spend, and ask again at once (the API is fine, no backoff).
            spent = int((run.clock.monotonic() - started) * 1000)
            cost = cost_of(exc.usage, job.price)
            run.usage += exc.usage
            run.cost += cost
            spend = {"usage": exc.usage, "cost_usd": cost}
            error = f"The model's reply could not be read ({exc.message})"
            if attempt + 1 >= job.retry.attempts:
                return run.give_up(
                    exc,
                    "failed",
                    f"{error} after {job.retry.attempts} attempts.",
                    turn_number,
                    spent,
                    **spend,
                )
            if job.budget_usd is not None and run.cost + run.worst_case_cost() > job.budget_usd:
                return run.give_up(
                    exc,
                    "failed",
                    f"{error}, and asking again could pass the ${job.budget_usd} budget.",
                    turn_number,
                    spent,
                    **spend,
                )
            run.emit(
                "model.retry",
                {
                    "turn": turn_number,
                    "attempt": attempt + 1,
                    "error": exc.message,
                    "status": None,
                    "wait_s": 0,
                    "partial_json": run.cut(exc.partial, PARTIAL_CHARS),
                },
                duration_ms=spent,
                **spend,
            )
            continue
        cost = cost_of(turn.usage, job.price)
        run.usage += turn.usage
        run.cost += cost
        run.last_prompt_tokens = turn.usage.prompt_tokens
        run.pending_chars = 0
        run.emit(
            "model.response",
            {
                "turn": turn_number,
                "stop_reason": turn.stop_reason,
                "content": turn.content,
                "request_id": turn.request_id,
            },
            usage=turn.usage,
            cost_usd=cost,
            duration_ms=int((run.clock.monotonic() - started) * 1000),
        )
        return turn
    raise AssertionError("unreachable: the retry loop returns")  # pragma: no cover


def _run_tool(run: _Run, tools: ToolBox, use: dict[str, Any]) -> dict[str, Any]:
    name, arguments = use["name"], use.get("input") or {}
    run.emit("tool.call", {"tool_use_id": use["id"], "name": name, "input": arguments})
    started = run.clock.monotonic()
    try:
        result = tools.call(name, arguments)
    except Exception as exc:
        result = ToolResult(f"The tool failed: {type(exc).__name__}: {exc}", is_error=True)
    run.emit(
        "tool.result",
        {
            "tool_use_id": use["id"],
            "name": name,
            "is_error": result.is_error,
            "content": run.cut(result.content, TOOL_RESULT_CHARS),
            "size": len(result.content),
        },
        duration_ms=int((run.clock.monotonic() - started) * 1000),
    )
    return {
        "type": "tool_result",
        "tool_use_id": use["id"],
        "content": result.content,
        "is_error": result.is_error,
    }
