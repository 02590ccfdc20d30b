"""Reading numbers from request parameters, where anything may arrive.

`str.isdigit()` is not enough: it is true for "²" and other Unicode digits that
`int()` refuses, and a 5,000-digit string passes it but is longer than `int()`
reads or the database stores.
"""

from __future__ import annotations

import re

# The largest value of a PostgreSQL integer column (and of our primary keys in practice).
MAX_ID = 2**31 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,10}")


def positive_int(raw: str | None) -> int | None:
    """`raw` as a whole number from 1 to MAX_ID, or None for anything else."""
    if raw is None or not _ASCII_DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
