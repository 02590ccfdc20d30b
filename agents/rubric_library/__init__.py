"""Starter rubrics: YAML files next to this module, offered when an agent is set up.

Each file is a rubric in the format `agents.engine.rubric.load_rubric` reads,
headed by two comment lines that name and describe it:

    # title: SEO audit
    # summary: A weekly technical and content SEO audit with concrete fixes.

The slug is the file name without `.yaml`. `text` is the whole file, comments
included, ready to drop into the rubric editor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = re.compile(r"#\s*(title|summary):\s*(.*?)\s*")


@dataclass(frozen=True)
class Starter:
    slug: str
    title: str
    summary: str
    text: str


def starters() -> list[Starter]:
    """Every starter rubric, sorted by title."""
    return list(_load())


def starter(slug: str) -> Starter | None:
    return next((s for s in _load() if s.slug == slug), None)


@cache
def _load() -> tuple[Starter, ...]:
    found = [_read(path) for path in HERE.glob("*.yaml")]
    return tuple(sorted(found, key=lambda s: (s.title.casefold(), s.slug)))


def _read(path: Path) -> Starter:
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        match = HEADER.fullmatch(line)
        if match:
            header[match[1]] = match[2]
    slug = path.stem
    return Starter(
        slug=slug,
        title=header.get("title") or slug.replace("_", " ").capitalize(),
        summary=header.get("summary", ""),
        text=text,
    )
