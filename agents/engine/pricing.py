"""Turn token usage into money, at list prices per million tokens."""

from __future__ import annotations

from decimal import Decimal

from agents.engine.types import ModelPrice, Usage

PER_TOKEN = Decimal(1_000_000)


def cost_of(usage: Usage, price: ModelPrice) -> Decimal:
    """The cost in USD of `usage` (not rounded: sums stay exact)."""
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_write_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / PER_TOKEN
