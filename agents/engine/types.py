"""What goes into a run and what comes out: frozen dataclasses, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

# "skipped": refused before the first model call (the budget cannot cover one call).
RunStatus = Literal["succeeded", "failed", "timed_out", "cancelled", "skipped"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool as the model sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    """Transient model errors are retried up to `attempts` times in all."""

    attempts: int = 4
    base_backoff: float = 1.0
    max_backoff: float = 30.0


@dataclass(frozen=True)
class ModelPrice:
    """List price in USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read: fresh, cache-written and cache-read input."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens


@dataclass(frozen=True)
class AgentJob:
    """One run to execute, as the service hands it to the engine."""

    model: str
    system: str
    prompt: str
    price: ModelPrice
    max_tokens: int = 4096
    max_turns: int = 30
    # Seconds the whole run may take, and any one model call.
    max_runtime: float = 600.0
    call_timeout: float = 120.0
    # None means no budget; else the run stops before a call that could pass it.
    budget_usd: Decimal | None = None
    # Already spent on this run by an earlier attempt (its worker died): it counts
    # against the budget too.
    spent_usd: Decimal = Decimal(0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Values that must never appear in events (API keys, vault secrets).
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """One step of a run's trace, written to the event sink as it happens."""

    type: str
    data: dict[str, Any]
    usage: Usage | None = None
    cost_usd: Decimal = Decimal(0)
    duration_ms: int = 0


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    output: str
    usage: Usage
    cost_usd: Decimal
    turns: int
    error: str = ""
