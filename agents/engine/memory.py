"""An agent's memory as the engine sees it: the window a run starts with, the memory tool.

No Django here. The service hands the engine `MemoryNote`s; `select_window`
picks what fits the agent's token budget (pinned notes first, then by weight,
then the most recently changed), and `render_window` writes them as the part
of the system prompt that follows the fixed instructions, so the whole prefix
is cached. The memory tool reads the store and turns the agent's proposals
into checked `MemoryChange`s; what happens to a proposal is the service's call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.engine.types import ToolResult, ToolSpec

MEMORY_TOOL = "memory"
# A generous estimate of a token, like the budget guard's: the window never overflows.
CHARS_PER_TOKEN = 4
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*){0,9}$")
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9:._/-]{0,59}$")
FAILURE_TAG = "failure:"
MAX_KEY = 200
MAX_TITLE = 200
MAX_BODY = 8_000
MAX_WEIGHT = 10.0
OPERATIONS = ("add", "edit", "supersede", "expire", "reweight")


@dataclass(frozen=True)
class MemoryNote:
    """One live note: the agent's own, or (playbook True) the agency playbook's."""

    key: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    weight: float = 1.0
    pinned: bool = False
    # Seconds since the epoch of its last change: the recency tie-break.
    updated: float = 0.0
    playbook: bool = False

    @property
    def label(self) -> str:
        return f"playbook:{self.key}" if self.playbook else self.key

    def render(self) -> str:
        details = [f"`{self.label}`", f"weight {self.weight:g}"]
        if self.pinned:
            details.append("pinned")
        if self.tags:
            details.append("tags: " + ", ".join(self.tags))
        return f"### {self.title}\n({'; '.join(details)})\n\n{self.body.strip()}\n"

    @property
    def tokens(self) -> int:
        return len(self.render()) // CHARS_PER_TOKEN + 1


@dataclass(frozen=True)
class Window:
    notes: tuple[MemoryNote, ...]
    left_out: tuple[MemoryNote, ...]
    tokens: int
    budget: int


def rank(note: MemoryNote) -> tuple[bool, float, float, bool]:
    """Sort key, best first once reversed: pinned, weight, recency, playbook."""
    return (note.pinned, note.weight, note.updated, note.playbook)


def select_window(notes: Sequence[MemoryNote], budget_tokens: int) -> Window:
    """The notes a run starts with: best-ranked first, each taken if it still fits.

    A note too big for what is left is passed over, not cut, and smaller notes
    after it may still fit: a half note would mislead more than a missing one.
    """
    chosen: list[MemoryNote] = []
    left_out: list[MemoryNote] = []
    used = 0
    for note in sorted(notes, key=rank, reverse=True):
        if used + note.tokens <= budget_tokens:
            chosen.append(note)
            used += note.tokens
        else:
            left_out.append(note)
    return Window(tuple(chosen), tuple(left_out), used, budget_tokens)


def render_window(window: Window) -> str:
    """The memory section of the system prompt; empty when there is nothing to show."""
    if not window.notes:
        return ""
    more = (
        f" {len(window.left_out)} more notes did not fit; search them with the memory tool."
        if window.left_out
        else ""
    )
    notes = "\n".join(note.render() for note in window.notes)
    return (
        "## Memory\n\n"
        "Notes kept from earlier runs for this client and job, and the agency's playbook. "
        "Apply them where they bear on this run; a note tagged failure:<criterion> records "
        f"how earlier work failed the rubric, so avoid repeating it.{more}\n\n{notes}"
    )


# ------------------------------------------------------------------ changes


@dataclass(frozen=True)
class MemoryChange:
    """One proposed change to an agent's store, checked for shape."""

    operation: str
    key: str
    title: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    weight: float | None = None
    # supersede: the key of the note the new one replaces.
    replaces: str = ""
    rationale: str = ""
    runs: tuple[str, ...] = ()

    @property
    def failure_criteria(self) -> tuple[str, ...]:
        return tuple(t[len(FAILURE_TAG) :] for t in self.tags if t.startswith(FAILURE_TAG))

    def as_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "key": self.key,
            "title": self.title,
            "body": self.body,
            "tags": list(self.tags),
            "weight": self.weight,
            "replaces": self.replaces,
            "rationale": self.rationale,
            "runs": list(self.runs),
        }


class ChangeError(ValueError):
    """A proposed change that is malformed; the message says what to fix."""


CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": list(OPERATIONS)},
        "key": {
            "type": "string",
            "description": "Path-like key, e.g. client/preferences/tone. For add and "
            "supersede, the new note's key; otherwise the key of the note to change.",
        },
        "title": {"type": "string"},
        "body": {"type": "string", "description": "The note, in Markdown."},
        "tags": {"type": "array", "items": {"type": "string"}},
        "weight": {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT},
        "replaces": {"type": "string", "description": "supersede only: the old note's key."},
        "rationale": {"type": "string", "description": "Why this change, in one or two lines."},
        "runs": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Ids of the runs this change rests on.",
        },
    },
    "required": ["operation", "key", "rationale"],
}


def _text(raw: dict[str, Any], name: str, limit: int) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise ChangeError(f"{name} must be text.")
    value = value.strip()
    if len(value) > limit:
        raise ChangeError(f"{name} is {len(value)} characters; at most {limit}.")
    return value


def parse_change(raw: Any, live_keys: set[str]) -> MemoryChange:
    """Check one proposed change against the store's live keys; raise ChangeError if wrong."""
    if not isinstance(raw, dict):
        raise ChangeError("A change must be an object.")
    operation = raw.get("operation")
    if operation not in OPERATIONS:
        raise ChangeError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}.")
    key = _text(raw, "key", MAX_KEY)
    if not KEY_PATTERN.match(key):
        raise ChangeError(
            f"key {key!r} is not a path of lowercase words, such as client/preferences/tone."
        )
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(
        isinstance(t, str) and TAG_PATTERN.match(t) for t in tags
    ):
        raise ChangeError("tags must be a list of lowercase words, such as failure:coverage.")
    weight = raw.get("weight")
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not 0 <= weight <= MAX_WEIGHT
    ):
        raise ChangeError(f"weight must be a number from 0 to {MAX_WEIGHT:g}.")
    runs = raw.get("runs") or []
    if not isinstance(runs, list) or not all(isinstance(r, str) for r in runs):
        raise ChangeError("runs must be a list of run ids.")
    change = MemoryChange(
        operation=operation,
        key=key,
        title=_text(raw, "title", MAX_TITLE),
        body=_text(raw, "body", MAX_BODY),
        tags=tuple(dict.fromkeys(tags)),
        weight=None if weight is None else float(weight),
        replaces=_text(raw, "replaces", MAX_KEY),
        rationale=_text(raw, "rationale", 2_000),
        runs=tuple(dict.fromkeys(runs)),
    )
    if not change.rationale:
        raise ChangeError(f"The {operation} of {key!r} gives no rationale.")
    if operation in ("add", "supersede") and not (change.title and change.body):
        raise ChangeError(f"An {operation} needs a title and a body.")
    if operation == "add" and key in live_keys:
        raise ChangeError(f"{key!r} already exists; edit or supersede it instead.")
    if operation in ("edit", "expire", "reweight") and key not in live_keys:
        raise ChangeError(f"There is no note {key!r} to {operation}.")
    if operation == "edit" and not (change.title or change.body or change.tags):
        raise ChangeError(f"The edit of {key!r} changes nothing.")
    if operation == "reweight" and change.weight is None:
        raise ChangeError(f"The reweight of {key!r} gives no weight.")
    if operation == "supersede":
        if change.replaces not in live_keys:
            raise ChangeError(f"There is no note {change.replaces!r} to supersede.")
        if key in live_keys and key != change.replaces:
            raise ChangeError(f"{key!r} already exists; pick a new key for the new note.")
    return change


# ------------------------------------------------------------------ the tool


def memory_tool_spec() -> ToolSpec:
    return ToolSpec(
        name=MEMORY_TOOL,
        description=(
            "Your memory for this client and job, and the agency playbook. "
            "command=search finds notes by words (query); command=read returns one "
            "note (key; playbook notes start with playbook:); command=propose suggests "
            "a change to your own notes (change: operation add, edit, supersede, expire "
            "or reweight, with a rationale). Proposals are reviewed before they count; "
            "the playbook is written by people only."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "command": {"type": "string", "enum": ["search", "read", "propose"]},
                "query": {"type": "string"},
                "key": {"type": "string"},
                "change": CHANGE_SCHEMA,
            },
            "required": ["command"],
        },
    )


def search_notes(notes: Sequence[MemoryNote], query: str, limit: int = 10) -> list[MemoryNote]:
    """Notes whose key, title, tags or body hold every word of `query`, best-ranked first."""
    words = [w for w in re.findall(r"\w+", query.lower()) if w]
    hits = [
        n
        for n in notes
        if all(w in f"{n.label} {n.title} {' '.join(n.tags)} {n.body}".lower() for w in words)
    ]
    return sorted(hits, key=rank, reverse=True)[:limit]


@dataclass
class MemoryTool:
    """The `memory` tool of one run; `propose` hands a checked change to the service."""

    notes: Sequence[MemoryNote]
    propose: Callable[[MemoryChange], str]

    def spec(self) -> ToolSpec:
        return memory_tool_spec()

    def call(self, arguments: dict[str, Any]) -> ToolResult:
        command = arguments.get("command")
        if command == "search":
            hits = search_notes(self.notes, str(arguments.get("query", "")))
            if not hits:
                return ToolResult("No note matches.")
            return ToolResult(
                "\n".join(f"- {n.label}: {n.title} (weight {n.weight:g})" for n in hits)
            )
        if command == "read":
            key = str(arguments.get("key", ""))
            note = next((n for n in self.notes if n.label == key), None)
            if note is None:
                return ToolResult(f"No note {key!r}. Search first.", is_error=True)
            return ToolResult(note.render())
        if command == "propose":
            own = {n.key for n in self.notes if not n.playbook}
            raw = arguments.get("change")
            if isinstance(raw, dict) and str(raw.get("key", "")).startswith("playbook:"):
                return ToolResult("The playbook is written by people only.", is_error=True)
            try:
                change = parse_change(raw, own)
            except ChangeError as exc:
                return ToolResult(f"Not proposed: {exc}", is_error=True)
            return ToolResult(self.propose(change))
        return ToolResult(
            f"Unknown command {command!r}; use search, read or propose.", is_error=True
        )


@dataclass
class CombinedTools:
    """The sandbox's tools and the memory tool as one toolbox for the loop."""

    sandbox: Any
    memory: MemoryTool | None

    def specs(self) -> tuple[ToolSpec, ...]:
        extra = (self.memory.spec(),) if self.memory is not None else ()
        return tuple(self.sandbox.specs()) + extra

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        if name == MEMORY_TOOL and self.memory is not None:
            return self.memory.call(arguments)
        result: ToolResult = self.sandbox.call(name, arguments)
        return result


def dump_notes(notes: Sequence[MemoryNote]) -> str:
    """The store as JSON, for the dream's prompt."""
    return json.dumps(
        [
            {
                "key": n.key,
                "title": n.title,
                "body": n.body,
                "tags": list(n.tags),
                "weight": n.weight,
                "pinned": n.pinned,
            }
            for n in notes
            if not n.playbook
        ],
        indent=1,
        ensure_ascii=False,
    )
