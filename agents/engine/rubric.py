"""Rubrics and the arithmetic of grades: plain Python, no Django.

A rubric is a list of criteria, each `hard` (a pass-or-fail gate) or `soft`
(scored 0 to 10), with a weight; plus a score floor, a limit on revision passes
and an optional revision cost cap. It loads from YAML or JSON; every problem is
reported with the line and the field it is on, and nothing half-valid loads.

Grades fail closed: a verdict set that misses a criterion, scores out of range,
or says "pass" against its own score is a grader error, never a pass.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import yaml
from yaml.composer import ComposerError

Kind = Literal["hard", "soft"]
KEY = re.compile(r"[a-z][a-z0-9_]{0,49}")
DEFAULT_FLOOR = 7.5
HARD_PASS, HARD_FAIL = 10.0, 0.0
# A rubric is a page or two (the starters are about 2,300 characters); far larger is a
# mistake or an attack, and parsing costs time in proportion to size.
MAX_SOURCE_CHARS = 20_000
# Criteria sit three levels down (criteria, item, bands); 20 leaves room for mistakes.
MAX_DEPTH = 20


@dataclass(frozen=True)
class Criterion:
    key: str
    description: str
    weight: float
    kind: Kind
    # For soft criteria: what a score range means, e.g. {"9-10": "...", "0-4": "..."}.
    bands: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]
    floor: float = DEFAULT_FLOOR
    max_revisions: int = 2
    revision_cost_cap_usd: Decimal | None = None
    # Grades this close to the floor are taken again, twice, and the median kept.
    regrade_margin: float = 0.0

    def criterion(self, key: str) -> Criterion:
        return next(c for c in self.criteria if c.key == key)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rubric's text: where (1-based line, field path) and what."""

    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "the rubric"
        return f"{where}, {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class RubricError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


# ---------------------------------------------------------------- loading


def load_rubric(text: str) -> Rubric:
    """Parse YAML (JSON is YAML too) into a Rubric, or raise RubricError with every problem."""
    if not text.strip():
        raise RubricError([Problem(0, "", "The rubric is empty.")])
    if len(text) > MAX_SOURCE_CHARS:
        raise RubricError(
            [
                Problem(
                    0,
                    "",
                    f"The rubric is {len(text):,} characters long; the limit is "
                    f"{MAX_SOURCE_CHARS:,}.",
                )
            ]
        )
    node, data = _parse_yaml(text)
    lines = _line_index(node)
    problems: list[Problem] = []
    rubric = _build(data, lines, problems)
    if problems or rubric is None:
        raise RubricError(problems)
    return rubric


def rubric_from_data(data: Any) -> Rubric:
    """A Rubric from plain data, such as a saved definition (`rubric_data`'s output).

    Checked field by field as `load_rubric` checks parsed text, so nothing half-valid
    loads; the limits on text (size, anchors, depth) do not apply, as there is none.
    Raises RubricError with every problem (without line numbers).
    """
    problems: list[Problem] = []
    rubric = _build(data, {}, problems)
    if problems or rubric is None:
        raise RubricError(problems)
    return rubric


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases, and with a depth limit.

    An alias makes the document a graph: a few hundred bytes of nested aliases
    expand to millions of nodes (the "billion laughs"). A rubric never needs one,
    so the first anchor or alias is refused before anything is expanded, and
    without them every later step is linear in the text's size.
    """

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(
                None,
                None,
                "anchors (&name) and aliases (*name) are not allowed in a rubric",
                event.start_mark,
            )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ComposerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _parse_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree and its data, composed once; RubricError when not YAML."""
    loader = _PlainLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise RubricError([Problem(line, "", f"Not valid YAML: {exc.problem}.")]) from None
    except yaml.YAMLError as exc:
        raise RubricError([Problem(0, "", f"Not valid YAML: {exc}.")]) from None
    finally:
        loader.dispose()
    return node, data


def rubric_data(rubric: Rubric) -> dict[str, Any]:
    """The rubric as plain data in the documented format (field order kept)."""
    data: dict[str, Any] = {
        "floor": rubric.floor,
        "max_revisions": rubric.max_revisions,
    }
    if rubric.revision_cost_cap_usd is not None:
        data["revision_cost_cap_usd"] = str(rubric.revision_cost_cap_usd)
    if rubric.regrade_margin:
        data["regrade_margin"] = rubric.regrade_margin
    data["criteria"] = [
        {
            "key": c.key,
            "description": c.description,
            "kind": c.kind,
            "weight": c.weight,
            **({"bands": dict(c.bands)} if c.bands else {}),
        }
        for c in rubric.criteria
    ]
    return data


def dump_rubric(rubric: Rubric) -> str:
    """The rubric as YAML, in the documented format (what the editor shows)."""
    return yaml.safe_dump(rubric_data(rubric), sort_keys=False, allow_unicode=True)


def rubric_as_json(rubric: Rubric) -> str:
    return json.dumps(rubric_data(rubric), indent=2)


def _line_index(node: yaml.Node | None) -> dict[str, int]:
    """Field path ("criteria[1].weight") -> 1-based line where it is written."""
    index: dict[str, int] = {}

    def walk(current: yaml.Node, path: str) -> None:
        index.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                name = f"{path}.{key_node.value}" if path else str(key_node.value)
                index[name] = key_node.start_mark.line + 1
                walk(value_node, name)
        elif isinstance(current, yaml.SequenceNode):
            for n, item in enumerate(current.value):
                walk(item, f"{path}[{n}]")

    if node is not None:
        walk(node, "")
    return index


def _build(data: Any, lines: dict[str, int], problems: list[Problem]) -> Rubric | None:
    def problem(path: str, message: str) -> None:
        line = lines.get(path) or lines.get(path.rsplit(".", 1)[0] if "." in path else "", 0)
        problems.append(Problem(line, path, message))

    if not isinstance(data, dict):
        problem("", "A rubric is a mapping with `criteria` (and optionally `floor`, ...).")
        return None
    known = {"criteria", "floor", "max_revisions", "revision_cost_cap_usd", "regrade_margin"}
    for name in data:
        if name not in known:
            problem(str(name), f"Unknown field; expected one of {', '.join(sorted(known))}.")
    floor = _number(data.get("floor", DEFAULT_FLOOR), "floor", 0, 10, problem)
    max_revisions = data.get("max_revisions", 2)
    if isinstance(max_revisions, bool) or not isinstance(max_revisions, int):
        problem("max_revisions", "Must be a whole number from 0 to 10.")
        max_revisions = 0
    elif not 0 <= max_revisions <= 10:
        problem("max_revisions", "Must be a whole number from 0 to 10.")
    cap = data.get("revision_cost_cap_usd")
    cap_usd: Decimal | None = None
    if cap is not None:
        try:
            cap_usd = Decimal(str(cap))
            if not cap_usd.is_finite() or not cap_usd > 0:
                raise InvalidOperation
        except InvalidOperation:
            problem("revision_cost_cap_usd", "Must be an amount in USD above 0, e.g. 0.50.")
    margin = _number(data.get("regrade_margin", 0), "regrade_margin", 0, 5, problem)
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        problem("criteria", "A rubric needs a list of at least one criterion.")
        return None
    criteria: list[Criterion] = []
    seen: set[str] = set()
    for n, item in enumerate(raw):
        at = f"criteria[{n}]"
        if not isinstance(item, dict):
            problem(at, "Each criterion is a mapping with key, description, kind and weight.")
            continue
        for name in item:
            if name not in {"key", "description", "kind", "weight", "bands"}:
                problem(
                    f"{at}.{name}", "Unknown field; expected key, description, kind, weight, bands."
                )
        key = item.get("key")
        if not isinstance(key, str) or not KEY.fullmatch(key):
            problem(f"{at}.key", "Must be lowercase letters, digits and _, starting with a letter.")
            key = f"criterion_{n}"
        elif key in seen:
            problem(f"{at}.key", f"{key!r} is used twice; keys must be unique.")
        seen.add(key)
        description = item.get("description")
        if not isinstance(description, str) or not description.strip():
            problem(f"{at}.description", "Say what the grader checks, in a sentence or two.")
            description = ""
        kind: Kind = "hard" if item.get("kind") == "hard" else "soft"
        if item.get("kind") not in ("hard", "soft"):
            problem(f"{at}.kind", "Must be `hard` (pass or fail) or `soft` (scored 0 to 10).")
        weight = _number(item.get("weight"), f"{at}.weight", 0, 1, problem, exclusive_low=True)
        bands = item.get("bands") or {}
        if not isinstance(bands, dict) or not all(
            isinstance(k, str | int) and isinstance(v, str) for k, v in bands.items()
        ):
            problem(f"{at}.bands", 'Bands map a score range (e.g. "8-10") to what it means.')
            bands = {}
        elif bands and kind == "hard":
            problem(f"{at}.bands", "Only soft criteria have score bands.")
        criteria.append(
            Criterion(key, description.strip(), weight, kind, {str(k): v for k, v in bands.items()})
        )
    total = sum(c.weight for c in criteria)
    if criteria and abs(total - 1) > 0.001 and not any(p.path.endswith("weight") for p in problems):
        problem("criteria", f"The weights add up to {total:g}; they must add up to 1.")
    return Rubric(tuple(criteria), floor, max_revisions, cap_usd, margin)


def _number(
    value: Any,
    path: str,
    low: float,
    high: float,
    problem: Any,
    *,
    exclusive_low: bool = False,
) -> float:
    """`value` as a float within bounds; else a problem, and `low` (a finite stand-in)."""
    bound = f"above {low:g}" if exclusive_low else f"from {low:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(path, f"Must be a number from {low:g} to {high:g}.")
        return low
    if isinstance(value, float) and not math.isfinite(value):
        # YAML's .nan and .inf: NaN passes every comparison below, and neither is
        # JSON, so the saved definition would not store.
        shown = "not a number (NaN)" if math.isnan(value) else "infinite"
        problem(path, f"Must be a finite number {bound} up to {high:g}; it is {shown}.")
        return low
    if value > high or value < low or (exclusive_low and value == low):
        # An int can be too large for a float (and for :g): say so instead of crashing.
        shown = f"{value:g}" if abs(value) < 1e300 else "far too large"
        problem(path, f"Must be a number {bound} up to {high:g}; it is {shown}.")
        return low
    return float(value)


# ---------------------------------------------------------------- grades


# Characters of evidence and of feedback kept per criterion: the run page shows
# them all, and a grader once sent 5 MB of evidence.
VERDICT_TEXT_CHARS = 2_000
CUT = "… [cut]"


@dataclass(frozen=True)
class Verdict:
    """The grader's judgement of one criterion, as checked by `parse_verdicts`."""

    key: str
    score: float  # finite, 0 to 10; a hard criterion's is 10 (pass) or 0 (fail)
    passed: bool
    evidence: str  # non-blank, at most VERDICT_TEXT_CHARS
    feedback: str  # non-blank, at most VERDICT_TEXT_CHARS


class GraderOutputError(ValueError):
    """The grader's answer cannot be trusted; the attempt is not graded (never passed)."""


def parse_verdicts(rubric: Rubric, raw: Any) -> dict[str, Verdict]:
    """Check the grader's tool input against the rubric, failing closed on anything odd.

    Each criterion exactly once, with a pass flag; a score (required for soft
    criteria, optional for hard ones) that is a finite number from 0 to 10 and
    agrees with the flag and the floor; non-blank evidence and feedback (at least
    one letter or digit, in any script), cut to VERDICT_TEXT_CHARS. Anything else
    raises GraderOutputError.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("verdicts"), list):
        raise GraderOutputError("The grader's answer has no list of verdicts.")
    verdicts: dict[str, Verdict] = {}
    for item in raw["verdicts"]:
        if not isinstance(item, dict):
            raise GraderOutputError("A verdict is not an object.")
        key = item.get("key")
        if not isinstance(key, str) or key not in {c.key for c in rubric.criteria}:
            raise GraderOutputError(f"A verdict names an unknown criterion: {_shown(key)}.")
        if key in verdicts:
            raise GraderOutputError(f"Criterion {key!r} was judged twice.")
        passed = item.get("passed")
        if not isinstance(passed, bool):
            raise GraderOutputError(f"Criterion {key!r} has no pass or fail.")
        score = _score(rubric, rubric.criterion(key), item, passed)
        evidence = _text(key, item, "evidence")
        feedback = _text(key, item, "feedback", failed=not passed)
        verdicts[key] = Verdict(key, score, passed, evidence, feedback)
    missing = [c.key for c in rubric.criteria if c.key not in verdicts]
    if missing:
        raise GraderOutputError(f"The grader did not judge: {', '.join(missing)}.")
    return verdicts


def _score(rubric: Rubric, criterion: Criterion, item: dict[str, Any], passed: bool) -> float:
    """The verdict's score, checked: first what it is, then whether it agrees with `passed`."""
    key = criterion.key
    if "score" not in item and criterion.kind == "hard":
        return HARD_PASS if passed else HARD_FAIL
    score = item.get("score")
    if score is None:
        raise GraderOutputError(f"Criterion {key!r} has no score.")
    # bool is an int in Python; "10" is text. Neither is a score.
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise GraderOutputError(
            f"Criterion {key!r} has a score that is not a number: {_shown(score)}."
        )
    if isinstance(score, float) and not math.isfinite(score):
        raise GraderOutputError(f"Criterion {key!r} scored {score}, not a finite number.")
    if not 0 <= score <= 10:
        raise GraderOutputError(f"Criterion {key!r} scored {_shown(score)}, outside 0 to 10.")
    # A hard criterion's canonical 0 agrees with a fail even at a floor of 0.
    canonical = criterion.kind == "hard" and score == (HARD_PASS if passed else HARD_FAIL)
    if passed != (score >= rubric.floor) and not canonical:
        raise GraderOutputError(
            f"Criterion {key!r} says passed={passed} against its score {score:g} "
            f"and the floor {rubric.floor:g}."
        )
    if criterion.kind == "hard":
        # A gate counts 10 or 0 in the weighted mean, whatever score agreed with it.
        return HARD_PASS if passed else HARD_FAIL
    return float(score)


def _text(key: str, item: dict[str, Any], name: str, *, failed: bool = False) -> str:
    """Evidence or feedback: non-blank text, cut visibly to VERDICT_TEXT_CHARS.

    Blank is anything without a letter or digit: strip() keeps zero-width and
    replacement characters (U+200B, U+FEFF, U+FFFD, which a NUL becomes) and
    punctuation such as "...", none of which says anything.
    """
    text = item.get(name)
    if not isinstance(text, str):
        raise GraderOutputError(f"Criterion {key!r} lacks {name} text.")
    text = text.strip()
    if not any(ch.isalnum() for ch in text):
        if failed:
            raise GraderOutputError(f"Criterion {key!r} failed without feedback to act on.")
        raise GraderOutputError(f"Criterion {key!r} has blank {name}.")
    if len(text) > VERDICT_TEXT_CHARS:
        text = text[: VERDICT_TEXT_CHARS - len(CUT)] + CUT
    return text


def _shown(value: Any) -> str:
    """A model-sent value for an error message, short (it may be megabytes)."""
    shown = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def overall_score(rubric: Rubric, verdicts: dict[str, Verdict]) -> float:
    """Weighted mean over all criteria (a hard pass counts 10, a fail 0)."""
    total = sum(c.weight for c in rubric.criteria)
    return sum(c.weight * verdicts[c.key].score for c in rubric.criteria) / total


def attempt_passes(rubric: Rubric, verdicts: dict[str, Verdict]) -> bool:
    """Every hard gate passes and the overall score reaches the floor."""
    gates = all(verdicts[c.key].passed for c in rubric.criteria if c.kind == "hard")
    return gates and overall_score(rubric, verdicts) >= rubric.floor


def soft_average_needed(rubric: Rubric) -> float | None:
    """With every hard gate passed, the weighted mean soft score the floor needs.

    None when the rubric has no soft criteria (the gates alone decide). What the
    editor's score preview shows, so the floor's meaning is concrete.
    """
    hard = sum(c.weight for c in rubric.criteria if c.kind == "hard")
    soft = sum(c.weight for c in rubric.criteria if c.kind == "soft")
    if not soft:
        return None
    return max(0.0, (rubric.floor * (hard + soft) - HARD_PASS * hard) / soft)
