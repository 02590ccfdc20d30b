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
# A dream's call (it forces this tool) plays `[sim:dream=NAME]`, one turn per call.
DREAM_MARKER = re.compile(r"\[sim:dream=([\w.-]+)\]")
DREAM_TOOL = "submit_memory_changes"
# The revision prompt AgencyOps writes; a scripted agent then plays NAME.revN if registered.
REVISION_HEADING = re.compile(r"^## Revision (\d+) of this run", re.MULTILINE)


# A tool use's `raw_json` is streamed as its input_json_delta text verbatim: how a
# script makes the model send what JSON cannot carry (NaN, Infinity) or broken JSON.
# Inside the server the block carries it under this key, never on the wire.
RAW_JSON = "_raw_json"
# In `fail_first`: serve a reply whose tool input is broken JSON before the real one.
MALFORMED = "malformed"
# In `fail_first`: serve the reply's stream cut short before the real one (`end_early`).
ENDED_EARLY = "ended_early"


@dataclass(frozen=True)
class Turn:
    """One assistant reply. `fail_first` lists error statuses served before it succeeds.

    `fail_first` may also hold MALFORMED: a reply whose tool input is not JSON, or
    ENDED_EARLY: this reply with `end_early`. A tool use may carry `raw_json`, the
    exact text of its input as streamed (its `input` is then ignored); with
    `stop_reason: "max_tokens"` and a cut text, a truncated answer.

    `end_early`: the stream sends every content block whole, then the connection
    closes cleanly with no message_delta (so no stop reason) and no message_stop,
    as when a proxy or the network ends a response early. A reply that is not
    streamed comes with `stop_reason: null`.
    """

    text: str = ""
    tool_uses: tuple[dict[str, Any], ...] = ()
    stop_reason: str | None = None
    fail_first: tuple[int | str, ...] = ()
    end_early: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(
            text=data.get("text", ""),
            tool_uses=tuple(data.get("tool_uses", ())),
            stop_reason=data.get("stop_reason"),
            fail_first=tuple(data.get("fail_first", ())),
            end_early=bool(data.get("end_early", False)),
        )

    def content(self, turn_index: int) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.text:
            blocks.append({"type": "text", "text": self.text})
        for n, use in enumerate(self.tool_uses):
            block = {
                "type": "tool_use",
                "id": f"toolu_sim{turn_index:02d}{n:02d}",
                "name": use["name"],
                "input": use.get("input", {}),
            }
            if "raw_json" in use:
                block[RAW_JSON] = str(use["raw_json"])
            blocks.append(block)
        return blocks

    def final_stop_reason(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_uses else "end_turn")

    def malformed(self) -> Turn:
        """This reply with its (first) tool's input broken mid-way, as a model can send it."""
        name = self.tool_uses[0]["name"] if self.tool_uses else "tool"
        return Turn(self.text, ({"name": name, "raw_json": '{"broken": }'},))

    def ended_early(self) -> Turn:
        """This reply, its stream ending before it finished."""
        return Turn(self.text, self.tool_uses, self.stop_reason, end_early=True)


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
    tool = forced_tool(body)
    if tool:
        match = (DREAM_MARKER if tool == DREAM_TOOL else GRADER_MARKER).search(text)
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
    if tool == DREAM_TOOL:
        return generated_changes(body)
    if tool:
        return generated_verdicts(body, tool)
    raw = conversation_text(body)
    text = raw.lower()
    tools = _tool_names(body)
    step = assistant_turns(body)
    job = "competitor watch" if "competitor" in text else "SEO audit" if "seo" in text else "report"
    report = _demo_report(job, text) + _memory_notes(body) + _revision_notes(raw)
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


def _memory_notes(body: dict[str, Any]) -> str:
    """Apply what the memory window holds: each note's advice reaches the work.

    This is what makes memory matter in the demo and the benchmark: a failure a
    dream wrote down arrives in the next run's system prompt and changes the
    report, as the grader's feedback does in a revision.
    """
    system = _text_of(body.get("system") or "")
    if "## Memory" not in system:
        return ""
    section = system.split("## Memory", 1)[1]
    notes = re.findall(r"^### (.+)\n\(.*\)\n\n(.+?)(?=\n### |\Z)", section, re.M | re.S)
    if not notes:
        return ""
    lines = [f"- {title.strip()}: {' '.join(text.split())[:300]}" for title, text in notes]
    return "\n## Applied from memory\n" + "\n".join(lines) + "\n"


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
        # The tool's schema asks a score of every verdict: a gate's is 10 or 0.
        verdict["score"] = score if criterion.get("kind") != "hard" else 10 if passed else 0
        verdicts.append(verdict)
    return Turn(tool_uses=({"name": tool, "input": {"verdicts": verdicts}},))


def _json_after(text: str, heading: str) -> Any:
    match = re.search(re.escape(heading) + r"\s+```json\s+(.*?)\s+```", text, re.DOTALL)
    return json.loads(match.group(1)) if match else None


def generated_changes(body: dict[str, Any]) -> Turn:
    """A deterministic stand-in dream for the demo: failures become notes, passes confirm them.

    Each criterion a run failed (in any pass), not yet in memory, becomes a failure-mode note
    citing the runs that failed it, its body the grader's feedback. A note whose
    criterion the runs that met the floor now pass is strengthened, citing them.
    Plumbing, not judgement: it follows the rules the dream is held to.
    """
    text = conversation_text(body)
    notes = _json_after(text, "## Its memory now") or []
    runs = [
        json.loads(block)
        for block in re.findall(
            r"```json\s+(\{.*?\})\s+```", text.split("## Runs since", 1)[-1], re.S
        )
    ]
    keys = {n["key"]: n for n in notes}
    failures: dict[str, tuple[str, list[str]]] = {}
    for run in runs:
        # A run that passed only after a revision failed its first pass: that counts.
        for failed in run.get("failed_criteria", []):
            feedback, ids = failures.setdefault(failed["key"], (failed["feedback"], []))
            ids.append(run["id"])
    changes: list[dict[str, Any]] = []
    for criterion, (feedback, ids) in failures.items():
        key = f"failures/{criterion.replace('_', '-')}"
        if key in keys:
            continue
        changes.append(
            {
                "operation": "add",
                "key": key,
                "title": f"Avoid failing {criterion}",
                "body": f"The grader marked {criterion} down: {feedback}",
                "tags": [f"failure:{criterion}"],
                "weight": 2,
                "rationale": f"{len(ids)} run(s) failed {criterion} since the last dream.",
                "runs": ids[:5],
            }
        )
    passing = [r for r in runs if r.get("met_floor")]
    for note in notes:
        tags = [t for t in note.get("tags", []) if t.startswith("failure:")]
        if not tags or not passing or note.get("weight", 1) >= 5:
            continue
        criterion = tags[0].split(":", 1)[1]
        if any(criterion in {f["key"] for f in r.get("failed_criteria", [])} for r in passing):
            continue
        changes.append(
            {
                "operation": "reweight",
                "key": note["key"],
                "weight": min(5, note.get("weight", 1) + 1),
                "rationale": f"{len(passing)} run(s) met the floor without failing {criterion}.",
                "runs": [r["id"] for r in passing[:5]],
            }
        )
    reason = "" if changes else "The runs since the last dream add nothing the notes do not hold."
    return Turn(tool_uses=({"name": DREAM_TOOL, "input": {"changes": changes, "reason": reason}},))
