"""One model call that must answer through one named tool: the grader's and the dream's.

Transient API errors are retried with the job's retry policy; every response,
retry and final error goes to the sink as `<prefix>.response`, `<prefix>.retry`
and `<prefix>.error`, so the spend is in the trace like any model call.

An answer that was cut off (`max_tokens`) or cannot be read (tool input that is
not JSON) is never used, even when the SDK's partial parse makes a whole object
of it: the caller gets it as `invalid`, with what it cost. A stream that ended
before the reply finished is a transient error (the model client's), retried.

What is emitted is whole: the caller's `emit` redacts it and then cuts every
string to TRACE_TEXT_CHARS (`loop.capped`), in that order, so a cut never splits
a secret that redaction would then miss.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.engine.errors import (
    MalformedModelOutputError,
    PermanentModelError,
    TransientModelError,
)
from agents.engine.llm import ModelClient, ModelRequest
from agents.engine.loop import Clock, backoff_delay
from agents.engine.pricing import cost_of
from agents.engine.types import ModelPrice, RetryPolicy, Usage

# Stop reasons of a finished reply; any other (max_tokens, refusal, pause_turn,
# a full context window) means the tool input may be partial.
FINISHED = frozenset({"tool_use", "end_turn", "stop_sequence"})
# Characters of each string the trace keeps of a forced call's reply (cut by the
# caller's emit, after redaction): what the caller uses is its own (capped) copy,
# and a model can send megabytes.
TRACE_TEXT_CHARS = 4_000


@dataclass(frozen=True)
class ForcedAnswer:
    """The tool's input (None with `error` when no usable answer came), and what the call cost.

    `invalid`: an answer came but cannot be used (cut off, unreadable); `error` says why.
    The grader asks again after one (with more room after a `max_tokens` cut); the
    dream fails. `stop_reason` is the reply's, when one came.
    """

    tool_input: Any
    usage: Usage
    cost: Decimal
    called: bool
    error: str = ""
    invalid: bool = False
    stop_reason: str = ""


def call_forced_tool(
    client: ModelClient,
    request: ModelRequest,
    price: ModelPrice,
    retry: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    emit: Callable[..., None],
    prefix: str,
    who: str,
) -> ForcedAnswer:
    """Make the call; a reply with no call, or several, of the tool answers `{"_no_tool_call": n}`.

    `who` names the caller in errors ("grader", "dream").
    """
    tool = (request.tool_choice or {}).get("name", "")
    for attempt in range(retry.attempts):
        started = clock.monotonic()
        try:
            turn = client.complete(request)
        except TransientModelError as exc:
            if attempt + 1 >= retry.attempts:
                emit(f"{prefix}.error", {"error": exc.message, "status": exc.status})
                return ForcedAnswer(
                    None,
                    Usage(),
                    Decimal(0),
                    False,
                    f"The {who}'s model kept failing: {exc.message}",
                )
            delay = backoff_delay(attempt, retry, exc.retry_after, rng)
            emit(
                f"{prefix}.retry",
                {"error": exc.message, "status": exc.status, "wait_s": round(delay, 2)},
            )
            clock.sleep(delay)
            continue
        except PermanentModelError as exc:
            emit(f"{prefix}.error", {"error": exc.message, "status": exc.status})
            return ForcedAnswer(
                None,
                Usage(),
                Decimal(0),
                False,
                f"The {who}'s model refused the request: {exc.message}",
            )
        except MalformedModelOutputError as exc:
            # Paid for, so it is a response in the trace (its spend counted), with no content.
            cost = cost_of(exc.usage, price)
            emit(
                f"{prefix}.response",
                {"model": request.model, "error": exc.message, "partial_json": exc.partial},
                usage=exc.usage,
                cost_usd=cost,
                duration_ms=int((clock.monotonic() - started) * 1000),
            )
            error = f"The {who}'s answer could not be read: {exc.message}."
            return ForcedAnswer(None, exc.usage, cost, True, error, invalid=True)
        cost = cost_of(turn.usage, price)
        uses = [u for u in turn.tool_uses if u.get("name") == tool]
        emit(
            f"{prefix}.response",
            {
                "model": request.model,
                "stop_reason": turn.stop_reason,
                "content": turn.content,
                "request_id": turn.request_id,
            },
            usage=turn.usage,
            cost_usd=cost,
            duration_ms=int((clock.monotonic() - started) * 1000),
        )
        if turn.stop_reason not in FINISHED:
            why = (
                f"was cut off at max_tokens ({request.max_tokens})"
                if turn.stop_reason == "max_tokens"
                else f"did not finish (stop reason {turn.stop_reason!r})"
            )
            error = f"The {who}'s answer {why}; a partial answer is never used."
            return ForcedAnswer(
                None, turn.usage, cost, True, error, invalid=True, stop_reason=turn.stop_reason
            )
        answer = uses[0].get("input") if len(uses) == 1 else {"_no_tool_call": len(uses)}
        return ForcedAnswer(answer, turn.usage, cost, True, stop_reason=turn.stop_reason)
    raise AssertionError("unreachable: the retry loop returns")  # pragma: no cover
