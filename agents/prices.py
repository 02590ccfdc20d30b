"""Default list prices (USD per million tokens) for the pricing table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agents.models import ModelPrice

# model, label, input, output, 5-minute cache write, cache read
DEFAULT_PRICES = (
    ("claude-opus-4-6", "Claude Opus 4.6", "5", "25", "6.25", "0.50"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "3", "15", "3.75", "0.30"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "1", "5", "1.25", "0.10"),
)


def ensure_default_prices(model_class: Any = ModelPrice) -> None:
    """Add any default model missing from the table; prices operators edited stay.

    The data migration passes its historical ModelPrice as `model_class`.
    """
    for model, label, inp, out, write, read in DEFAULT_PRICES:
        model_class.objects.get_or_create(
            model=model,
            defaults={
                "label": label,
                "input_per_mtok": Decimal(inp),
                "output_per_mtok": Decimal(out),
                "cache_write_per_mtok": Decimal(write),
                "cache_read_per_mtok": Decimal(read),
            },
        )
