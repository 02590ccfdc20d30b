"""One model call that must answer through one named tool: the grader's and the dream's.

Transient API errors are retried with the job's retry policy; every response,
retry and final error goes to the sink as `<prefix>.response`, `<prefix>.retry`
and `<prefix>.error`, so the spend is in the trace like any model call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from agents.engine.errors import PermanentModelError, TransientModelError
from agents.engine.llm import ModelClient, ModelRequest
from agents.engine.loop import Clock, backoff_delay
from agents.engine.pricing import cost_of
from agents.engine.types import ModelPrice, RetryPolicy, Usage


@dataclass(frozen=True)
class ForcedAnswer:
    """The tool's input (None with `error` when no answer came), and what the call cost."""

    tool_input: Any
    usage: Usage
    cost: Decimal
    called: bool
    error: str = ""


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
        cost = cost_of(turn.usage, price)
        uses = [u for u in turn.tool_uses if u.get("name") == tool]
        emit(
            f"{prefix}.response",
            {"model": request.model, "content": turn.content, "request_id": turn.request_id},
            usage=turn.usage,
            cost_usd=cost,
            duration_ms=int((clock.monotonic() - started) * 1000),
        )
        answer = uses[0].get("input") if len(uses) == 1 else {"_no_tool_call": len(uses)}
        return ForcedAnswer(answer, turn.usage, cost, True)
    raise AssertionError("unreachable: the retry loop returns")  # pragma: no cover
