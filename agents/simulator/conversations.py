"""What the simulated model says: scripted turns for tests, generated work for the demo.

A request plays a script when its system prompt or first message contains
`[sim:script=NAME]`; the script's turn is chosen by how many assistant turns
the conversation already has, exactly as a real model sees its history.
Without a marker, the simulator generates plausible work for a demo job from
the words of the prompt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SCRIPT_MARKER = re.compile(r"\[sim:script=([\w.-]+)\]")
# A grader call (one that forces a tool) plays this script instead, one turn per call.
GRADER_MARKER = re.compile(r"\[sim:grader=([\w.-]+)\]")
# The revision prompt AgencyOps writes; a scripted agent then plays NAME.revN if registered.
REVISION_HEADING = re.compile(r"^## Revision (\d+) of this run", re.MULTILINE)


@dataclass(frozen=True)
class Turn:
    """One assistant reply. `fail_first` lists error statuses served before it succeeds."""

    text: str = ""
    tool_uses: tuple[dict[str, Any], ...] = ()
    stop_reason: str | None = None
    fail_first: tuple[int, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(
            text=data.get("text", ""),
            tool_uses=tuple(data.get("tool_uses", ())),
            stop_reason=data.get("stop_reason"),
            fail_first=tuple(data.get("fail_first", ())),
        )

    def content(self, turn_index: int) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.text:
            blocks.append({"type": "text", "text": self.text})
        for n, use in enumerate(self.tool_uses):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_sim{turn_index:02d}{n:02d}",
                    "name": use["name"],
                    "input": use.get("input", {}),
                }
            )
        return blocks

    def final_stop_reason(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_uses else "end_turn")


@dataclass
class Script:
    turns: list[Turn] = field(default_factory=list)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if isinstance(b, dict))


def conversation_text(body: dict[str, Any]) -> str:
    """The system prompt and the first user message: where markers and job words live."""
    system = body.get("system") or ""
    first = body["messages"][0]["content"] if body.get("messages") else ""
    return f"{_text_of(system)}\n{_text_of(first)}"


def assistant_turns(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool a request forces with tool_choice, as the grader's calls do."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        return str(choice.get("name", ""))
    return None


def script_name(body: dict[str, Any]) -> str | None:
    text = conversation_text(body)
    if forced_tool(body):
        match = GRADER_MARKER.search(text)
        return match.group(1) if match else None
    match = SCRIPT_MARKER.search(text)
    if match is None:
        return None
    revision = REVISION_HEADING.search(text)
    return f"{match.group(1)}.rev{revision.group(1)}" if revision else match.group(1)


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {t["name"] for t in body.get("tools", []) if isinstance(t, dict) and "name" in t}


def generated_turn(body: dict[str, Any]) -> Turn:
    """A plausible next step for a demo job, driven by the prompt's words and the tools offered."""
    tool = forced_tool(body)
    if tool:
        return generated_verdicts(body, tool)
    raw = conversation_text(body)
    text = raw.lower()
    tools = _tool_names(body)
    step = assistant_turns(body)
    job = "competitor watch" if "competitor" in text else "SEO audit" if "seo" in text else "report"
    report = _demo_report(job, text) + _revision_notes(raw)
    if step == 0 and "list_files" in tools:
        return Turn(
            text=f"Starting the {job}. First I check what last run left.",
            tool_uses=({"name": "list_files", "input": {}},),
        )
    if step <= 1 and "write_file" in tools:
        return Turn(
            text="Writing the report to the workspace.",
            tool_uses=({"name": "write_file", "input": {"path": "report.md", "content": report}},),
        )
    return Turn(text=report)


def _demo_report(job: str, text: str) -> str:
    site = re.search(r"https?://[\w.-]+", text)
    where = site.group(0) if site else "the client's site"
    if job == "competitor watch":
        findings = [
            "Pricing page: a rival cut its entry plan by 10%.",
            "Blog: two rivals published comparison posts naming the client.",
            "Ads: no new search campaigns seen this week.",
        ]
    else:
        findings = [
            f"Titles: 3 pages on {where} share the same <title>.",
            "Meta descriptions: 5 pages have none.",
            "Speed: the home page's largest image is 2.4 MB; serve it as WebP.",
            "Links: 2 internal links return 404.",
        ]
    body = "\n".join(f"- {f}" for f in findings)
    steps = "1. Fix the items above, most visible first.\n"
    title = job[0].upper() + job[1:]
    return f"# {title}\n\n## Findings\n{body}\n\n## Next steps\n{steps}"


def _revision_notes(prompt: str) -> str:
    """In a revision, answer each point the grader raised (its words reach the new work)."""
    match = REVISION_HEADING.search(prompt)
    if match is None:
        return ""
    section = prompt[match.end() :].split("### Your previous deliverable", 1)[0]
    points = [line[2:].strip() for line in section.splitlines() if line.startswith("- ")]
    if not points:
        return ""
    return "\n## Changes in this revision\n" + "\n".join(f"- Done: {p}" for p in points) + "\n"


# Words too common to show that the work covers a criterion.
_COMMON = frozenset(
    {
        "about",
        "above",
        "after",
        "again",
        "against",
        "being",
        "below",
        "between",
        "could",
        "doing",
        "during",
        "every",
        "having",
        "other",
        "should",
        "their",
        "there",
        "these",
        "those",
        "through",
        "under",
        "until",
        "which",
        "while",
        "would",
        "where",
        "whose",
        "within",
        "without",
    }
)


def _criterion_words(description: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{5,}", description.lower()) if w not in _COMMON}


def generated_verdicts(body: dict[str, Any], tool: str) -> Turn:
    """A deterministic stand-in grader for the demo: it scores what the work covers.

    Each criterion is judged by how many of its description's words the work
    uses, so the grade really depends on the work: a revision that answers the
    feedback scores higher. It is plumbing, not judgement.
    """
    text = conversation_text(body)
    rubric_match = re.search(r"## Rubric\s+```json\s+(\{.*?\})\s+```", text, re.DOTALL)
    if rubric_match is None:
        return Turn(text="I cannot find a rubric to grade against.")
    rubric = json.loads(rubric_match.group(1))
    work = text.split("## The work to grade", 1)[-1]
    lowered = work.lower()
    floor = float(rubric.get("floor", 7.5))
    verdicts = []
    for criterion in rubric.get("criteria", []):
        words = _criterion_words(criterion.get("description", ""))
        found = sorted(w for w in words if w in lowered)
        coverage = len(found) / len(words) if words else 1.0
        score = round(min(10.0, 3 + 7 * coverage), 1)
        passed = coverage >= 0.5 if criterion.get("kind") == "hard" else score >= floor
        line = next(
            (ln.strip() for ln in work.splitlines() if any(w in ln.lower() for w in found)), ""
        )
        verdict: dict[str, Any] = {
            "key": criterion.get("key"),
            "passed": passed,
            "evidence": line[:200] or "Nothing in the work speaks to this.",
            "feedback": "Keep this as it is."
            if passed
            else f"Cover this: {criterion.get('description', '')}",
        }
        if criterion.get("kind") != "hard":
            verdict["score"] = score
        verdicts.append(verdict)
    return Turn(tool_uses=({"name": tool, "input": {"verdicts": verdicts}},))
