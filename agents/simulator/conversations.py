"""What the simulated model says: scripted turns for tests, generated work for the demo.

A request plays a script when its system prompt or first message contains
`[sim:script=NAME]`; the script's turn is chosen by how many assistant turns
the conversation already has, exactly as a real model sees its history.
Without a marker, the simulator generates plausible work for a demo job from
the words of the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SCRIPT_MARKER = re.compile(r"\[sim:script=([\w.-]+)\]")


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


def script_name(body: dict[str, Any]) -> str | None:
    match = SCRIPT_MARKER.search(conversation_text(body))
    return match.group(1) if match else None


def _tool_names(body: dict[str, Any]) -> set[str]:
    return {t["name"] for t in body.get("tools", []) if isinstance(t, dict) and "name" in t}


def generated_turn(body: dict[str, Any]) -> Turn:
    """A plausible next step for a demo job, driven by the prompt's words and the tools offered."""
    text = conversation_text(body).lower()
    tools = _tool_names(body)
    step = assistant_turns(body)
    job = "competitor watch" if "competitor" in text else "SEO audit" if "seo" in text else "report"
    report = _demo_report(job, text)
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
