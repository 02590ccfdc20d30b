"""The memory window, the memory tool and the dream's checks: plain Python, no database."""

from __future__ import annotations

import pytest

from agents.engine.dreaming import (
    RunDigest,
    dream_prompt,
    find_leak,
    parse_change_set,
    refusal,
)
from agents.engine.memory import (
    ChangeError,
    MemoryChange,
    MemoryNote,
    MemoryTool,
    parse_change,
    render_window,
    select_window,
)
from agents.engine.types import ModelPrice


def note(key, weight=1.0, pinned=False, updated=0.0, body="x", playbook=False):
    return MemoryNote(
        key=key,
        title=key,
        body=body,
        weight=weight,
        pinned=pinned,
        updated=updated,
        playbook=playbook,
    )


def test_the_window_takes_pinned_notes_first_then_weight_then_recency():
    notes = [
        note("light-new", weight=1, updated=9),
        note("heavy", weight=5, updated=1),
        note("pinned-light", weight=0.5, pinned=True),
        note("light-old", weight=1, updated=2),
    ]

    window = select_window(notes, budget_tokens=10_000)

    assert [n.key for n in window.notes] == ["pinned-light", "heavy", "light-new", "light-old"]
    assert window.left_out == ()
    assert window.tokens == sum(n.tokens for n in notes)


def test_the_window_stays_within_its_budget_and_skips_a_note_too_big_for_what_is_left():
    small = [note(f"small-{i}", weight=3 - i) for i in range(3)]
    big = note("big", weight=2.5, body="y" * 2_000)
    budget = sum(n.tokens for n in small) + 5

    window = select_window([*small, big], budget_tokens=budget)

    assert [n.key for n in window.notes] == ["small-0", "small-1", "small-2"]
    assert [n.key for n in window.left_out] == ["big"]
    assert window.tokens <= budget


def test_a_zero_budget_gives_no_window_and_no_prompt_section():
    window = select_window([note("a")], budget_tokens=0)
    assert window.notes == ()
    assert render_window(window) == ""


def test_the_rendered_window_names_playbook_notes_and_what_did_not_fit():
    window = select_window(
        [note("style", playbook=True, pinned=True), note("big", body="z" * 4000)], 60
    )
    text = render_window(window)
    assert text.startswith("## Memory")
    assert "`playbook:style`" in text
    assert "1 more notes did not fit" in text


def raw(operation, key, **fields):
    return {"operation": operation, "key": key, "rationale": "r", **fields}


TB = {"title": "t", "body": "b"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (raw("delete", "a"), "operation must be one of"),
        (raw("add", "Bad Key", **TB), "not a path"),
        ({"operation": "add", "key": "a/b", **TB}, "no rationale"),
        (raw("add", "a/b"), "needs a title and a body"),
        (raw("add", "live", **TB), "already exists"),
        (raw("edit", "gone", body="b"), "no note 'gone'"),
        (raw("reweight", "live"), "gives no weight"),
        (raw("reweight", "live", weight=11), "from 0 to 10"),
        (raw("add", "a", tags=["Not OK"], **TB), "tags must be"),
        (raw("supersede", "new", replaces="gone", **TB), "no note 'gone' to supersede"),
    ],
)
def test_malformed_changes_are_refused_with_a_reason(raw, message):
    with pytest.raises(ChangeError, match=message):
        parse_change(raw, {"live"})


def test_a_change_set_that_touches_one_note_twice_fails_as_a_whole():
    raw = {
        "changes": [
            {"operation": "reweight", "key": "live", "weight": 2, "rationale": "r"},
            {"operation": "expire", "key": "live", "rationale": "r"},
        ]
    }
    changes, _reason, problems = parse_change_set(raw, {"live"})
    assert changes == (changes[0],)
    assert problems == ["Change 2: live is changed twice."]


def test_no_change_needs_a_reason():
    assert parse_change_set({"changes": []}, set())[2] == [
        "The dream proposed no change and gave no reason."
    ]
    assert parse_change_set({"changes": [], "reason": "Nothing new."}, set()) == (
        (),
        "Nothing new.",
        [],
    )


RUNS = {
    "good": RunDigest("good", "", "succeeded", 8.5, True),
    "bad": RunDigest("bad", "", "failed_grade", 5.0, False, (("clarity", "Say what to do."),)),
}


def change(operation="add", key="a/b", tags=(), runs=("good",), weight=None, body="b"):
    return MemoryChange(operation, key, "t", body, tuple(tags), weight, "", "because", tuple(runs))


@pytest.mark.parametrize(
    ("proposed", "expected"),
    [
        (change(), ""),
        (change(runs=("bad",)), "which did not meet the floor"),
        (change(runs=()), "without citing a run that met the floor"),
        (change(tags=["failure:clarity"], runs=("bad",)), ""),
        (change(tags=["failure:coverage"], runs=("bad",)), "no cited run failed that criterion"),
        (change(tags=["failure:clarity"], runs=()), "must cite the failed runs"),
        (change("reweight", "live", weight=4, runs=("bad",)), "did not meet the floor"),
        (change("reweight", "live", weight=0.5, runs=("bad",)), ""),
        (change("expire", "live", runs=()), ""),
        (change(runs=("elsewhere",)), "which this dream did not read"),
    ],
    ids=[
        "fact-from-passing-run",
        "fact-from-failed-run",
        "fact-without-evidence",
        "failure-note-from-failed-run",
        "failure-note-wrong-criterion",
        "failure-note-without-runs",
        "strengthen-from-failed-run",
        "weaken-from-failed-run",
        "expire",
        "unknown-run",
    ],
)
def test_grade_weighting(proposed, expected):
    why = refusal(proposed, RUNS, {"live": 1.0}, [])
    if expected:
        assert expected in why
    else:
        assert why == ""


@pytest.mark.parametrize(
    ("body", "leaks"),
    [
        ("Compare with Globex titles.", True),
        ("see globex.example/pricing", True),
        ("mail hank@globex-corp.example", True),
        ("Globexian architecture", False),
        ("notglobex.example.org", False),
        ("Titles repeat.", False),
    ],
)
def test_the_leak_check_matches_whole_names_domains_and_contacts(body, leaks):
    terms = [
        ("Globex", "another client (Globex)"),
        ("globex.example", "another client's domain (globex.example)"),
        ("hank@globex-corp.example", "another client's contact"),
    ]
    assert bool(find_leak(change(body=body), terms)) is leaks


def test_the_dream_prompt_keeps_the_newest_runs_that_fit_its_budget():
    from agents.engine.dreaming import DreamJob

    runs = tuple(
        RunDigest(f"run-{i}", "", "succeeded", 8.0, True, output="o" * 1_400) for i in range(40)
    )
    job = DreamJob(
        model="m",
        price=ModelPrice(*(0,) * 4),
        task="Audit.",
        notes=(),
        runs=runs,
        floor=7.5,
        token_budget=10_000,
        max_tokens=4_096,
    )
    prompt, shown = dream_prompt(job)
    assert shown == tuple(f"run-{i}" for i in range(len(shown)))
    assert 0 < len(shown) < 40
    assert f"({40 - len(shown)} older runs did not fit" in prompt
    assert len(prompt) <= (10_000 - 4_096) * 4


def test_the_memory_tool_searches_reads_and_checks_proposals():
    proposed = []
    tool = MemoryTool(
        [note("client/tone", body="Warm."), note("style", playbook=True, body="Short.")],
        lambda c: proposed.append(c) or "Proposed.",
    )
    assert "client/tone" in tool.call({"command": "search", "query": "warm"}).content
    assert "Short." in tool.call({"command": "read", "key": "playbook:style"}).content
    refused = tool.call(
        {"command": "propose", "change": {"operation": "edit", "key": "playbook:style"}}
    )
    assert refused.is_error
    assert "people only" in refused.content
    bad = tool.call({"command": "propose", "change": {"operation": "add", "key": "x"}})
    assert bad.is_error
    ok = tool.call(
        {
            "command": "propose",
            "change": {
                "operation": "add",
                "key": "client/cms",
                "title": "CMS",
                "body": "WP",
                "rationale": "Seen.",
            },
        }
    )
    assert (ok.is_error, ok.content) == (False, "Proposed.")
    assert [c.key for c in proposed] == ["client/cms"]
