"""Bad model output through the real SDK and the simulator: never a verdict, never a crash.

The grader re-asks after an answer that is contradictory, blank, non-finite,
unreadable or cut off, and records what each call cost; the dream's forced call
fails on the same; the agent loop treats unreadable replies as a model error.
Whatever the model sent, every event's data is strict JSON.
"""

from __future__ import annotations

import json
import math

import pytest

from agents.engine.dreaming import DreamJob, dream
from agents.engine.errors import MalformedModelOutputError, TransientModelError
from agents.engine.forced import TRACE_TEXT_CHARS
from agents.engine.grader import GRADER_SYSTEM, MAX_TOKENS_CEILING, TOOL_NAME, grade, verdict_tool
from agents.engine.llm import ModelRequest, _malformed, json_safe
from agents.engine.loop import PARTIAL_CHARS, TOOL_RESULT_CHARS, run_agent
from agents.engine.pricing import cost_of
from agents.engine.types import RetryPolicy, ToolResult, ToolSpec
from agents.simulator import Turn
from tests.unit.engine.conftest import GRADER_RUBRIC, PRICE, grade_job, make_job

RUBRIC = GRADER_RUBRIC
GATE = {"key": "gate", "passed": True, "score": 10, "evidence": "acmebakery.test", "feedback": "ok"}
DEPTH = {
    "key": "depth",
    "passed": True,
    "score": 8,
    "evidence": "Titles.",
    "feedback": "Name them.",
}
GOOD_JSON = json.dumps({"verdicts": [GATE, DEPTH]})
# A credential the job must never show; 24 characters, so a cut can split it.
SECRET = "sk-live-0123456789abcdef"


job = grade_job


def answer(*verdicts, stop_reason=None):
    return Turn(
        tool_uses=({"name": TOOL_NAME, "input": {"verdicts": list(verdicts)}},),
        stop_reason=stop_reason,
    )


def raw(text, stop_reason=None):
    """A grader reply whose tool input is streamed as exactly `text`."""
    return Turn(tool_uses=({"name": TOOL_NAME, "raw_json": text},), stop_reason=stop_reason)


def strict_json(sink):
    """Every event's data as the database would store it: NaN and Infinity refused."""
    return [json.loads(json.dumps(e.data, allow_nan=False)) for e in sink.events]


BAD = {
    "hard-contradiction": (answer({**GATE, "score": 0}, DEPTH), "passed=True against its score 0"),
    "hard-out-of-range": (answer({**GATE, "score": 101}, DEPTH), "scored 101, outside 0 to 10"),
    "hard-huge-negative": (answer({**GATE, "score": -1e308}, DEPTH), "outside 0 to 10"),
    "hard-string": (answer({**GATE, "score": "10"}, DEPTH), "not a number: '10'"),
    "blank-evidence": (answer({**GATE, "evidence": " \n"}, DEPTH), "'gate' has blank evidence"),
    "blank-feedback": (answer(GATE, {**DEPTH, "feedback": ""}), "'depth' has blank feedback"),
    "zero-width-evidence": (
        answer({**GATE, "evidence": "\u200b\ufeff"}, DEPTH),
        "'gate' has blank evidence",
    ),
    # A NUL reaches the grader as U+FFFD (json_safe): no letter or digit, so blank.
    "nul-feedback": (
        raw(GOOD_JSON.replace('"feedback": "Name them."', '"feedback": "\\u0000"')),
        "'depth' has blank feedback",
    ),
    "failed-no-feedback": (
        answer(GATE, {**DEPTH, "passed": False, "score": 2, "feedback": "\t"}),
        "'depth' failed without feedback",
    ),
    # JSON cannot carry these: the simulator streams them as literal text.
    "nan": (raw(GOOD_JSON.replace('"score": 8', '"score": NaN')), "not a number: 'NaN'"),
    "infinity": (
        raw(GOOD_JSON.replace('"score": 10', '"score": Infinity')),
        "not a number: 'Infinity'",
    ),
    "malformed": (raw('{"verdicts": [{"key": "gate", "passed": }'), "could not be read"),
    # The SDK's partial parse makes a whole object of it: still not a verdict.
    "max-tokens-whole": (answer(GATE, DEPTH, stop_reason="max_tokens"), "cut off at max_tokens"),
    "max-tokens-cut": (raw(GOOD_JSON[:-30], stop_reason="max_tokens"), "cut off at max_tokens"),
    "refusal": (answer(GATE, DEPTH, stop_reason="refusal"), "did not finish"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_answer_is_asked_again_then_not_graded_with_its_spend_recorded(
    simulator, model, sink, clock, case
):
    bad, message = BAD[case]
    simulator.add_script(case, [bad, bad, bad])

    result = grade(job(case), model, sink, clock)

    assert not result.graded
    assert result.passed is False
    assert result.score is None
    assert message in result.error
    assert result.calls == 3
    invalid = [e for e in sink.events if e.type == "grade.invalid"]
    assert [e.data["try"] for e in invalid] == [1, 2, 3]
    assert all(message in e.data["error"] for e in invalid)
    responses = [e for e in sink.events if e.type == "grade.response"]
    assert len(responses) == 3
    assert result.cost_usd > 0
    assert result.cost_usd == sum(e.cost_usd for e in responses)
    assert result.usage == sum((e.usage for e in responses[1:]), responses[0].usage)
    strict_json(sink)


def test_the_trace_shows_a_non_finite_score_as_text(simulator, model, sink, clock):
    simulator.add_script("nan-once", [BAD["nan"][0], answer(GATE, DEPTH)])

    result = grade(job("nan-once"), model, sink, clock)

    assert result.graded  # asked again, and the second answer was good
    assert result.calls == 2
    first = strict_json(sink)[0]
    verdicts = first["content"][0]["input"]["verdicts"]
    assert verdicts[1]["score"] == "NaN"


def test_an_unreadable_answer_is_priced_from_what_the_stream_told_and_shown(
    simulator, model, sink, clock
):
    simulator.add_script("broken-once", [BAD["malformed"][0], answer(GATE, DEPTH)])

    result = grade(job("broken-once"), model, sink, clock)

    assert result.graded
    broken = sink.events[0]
    assert sink.types() == ["grade.response", "grade.invalid", "grade.response", "grade.finished"]
    assert broken.usage.prompt_tokens > 0
    assert broken.cost_usd == cost_of(broken.usage, PRICE) > 0
    assert "not valid JSON" in broken.data["error"]
    assert broken.data["partial_json"].startswith('{"verdicts": [{"key": "gate"')


def test_a_huge_answer_is_graded_with_its_text_cut_and_a_bounded_trace(
    simulator, model, sink, clock
):
    # Big enough for both caps; 5 MB is the boundary test's (the SDK re-parses
    # streamed tool input as it grows, so megabytes take minutes here).
    huge = "quote " * 10_000
    simulator.add_script("huge", [answer({**GATE, "evidence": huge}, DEPTH)])

    result = grade(job("huge"), model, sink, clock)

    assert result.graded
    assert len(result.verdicts["gate"].evidence) == 2_000
    assert result.verdicts["gate"].evidence.endswith("… [cut]")
    logged = sink.events[0].data["content"][0]["input"]["verdicts"][0]["evidence"]
    assert len(logged) == TRACE_TEXT_CHARS
    assert logged.endswith("… [cut]")


# ---------------------------------------------------------------- a stream that ended early


def test_a_grader_answer_whose_stream_ended_early_is_never_a_verdict(simulator, model, sink, clock):
    # Whole verdicts that pass, but no message_delta: no stop reason, not finished.
    cut = Turn(
        tool_uses=({"name": TOOL_NAME, "input": {"verdicts": [GATE, DEPTH]}},), end_early=True
    )
    simulator.add_script("ended", [cut, cut, cut, cut])

    result = grade(job("ended"), model, sink, clock)

    assert not result.graded
    assert result.passed is False
    assert result.verdicts is None
    assert "the stream ended before the reply finished" in result.error
    # Retried like any broken stream (the job's policy: 2 attempts), then not graded.
    assert sink.types() == ["grade.retry", "grade.error", "grade.finished"]
    assert len(simulator.state.requests) == 2
    assert len(clock.slept) == 1


def test_a_grader_answer_that_ended_early_once_is_asked_again_and_graded(
    simulator, model, sink, clock
):
    good = Turn(
        tool_uses=({"name": TOOL_NAME, "input": {"verdicts": [GATE, DEPTH]}},),
        fail_first=("ended_early",),
    )
    simulator.add_script("ended-once", [good])

    result = grade(job("ended-once"), model, sink, clock)

    assert result.graded
    assert sink.types() == ["grade.retry", "grade.response", "grade.finished"]
    assert "the stream ended before the reply finished" in sink.events[0].data["error"]


# ---------------------------------------------------------------- room after a cut


def grader_max_tokens(simulator):
    return [r["body"]["max_tokens"] for r in simulator.state.requests]


def test_an_answer_cut_at_max_tokens_is_asked_again_with_twice_the_room(
    simulator, model, sink, clock
):
    simulator.add_script(
        "wordy", [answer(GATE, DEPTH, stop_reason="max_tokens"), answer(GATE, DEPTH)]
    )

    result = grade(job("wordy"), model, sink, clock)

    assert result.graded
    assert result.calls == 2
    assert grader_max_tokens(simulator) == [4096, 8192]


@pytest.mark.parametrize(
    ("start", "asked"),
    [
        (4096, [4096, 8192, 16384]),
        (10_000, [10_000, MAX_TOKENS_CEILING, MAX_TOKENS_CEILING]),
        (20_000, [20_000, 20_000, 20_000]),  # never less than the job's own limit
    ],
)
def test_the_room_after_a_cut_is_capped_and_never_shrinks(
    simulator, model, sink, clock, start, asked
):
    cut = answer(GATE, DEPTH, stop_reason="max_tokens")
    simulator.add_script(f"cut-{start}", [cut, cut, cut])

    result = grade(job(f"cut-{start}", max_tokens=start), model, sink, clock)

    assert not result.graded
    assert f"cut off at max_tokens ({asked[-1]})" in result.error
    assert grader_max_tokens(simulator) == asked


def test_other_bad_answers_are_asked_again_with_the_same_room(simulator, model, sink, clock):
    bad = answer({**GATE, "score": 0}, DEPTH)
    simulator.add_script("same-room", [bad, bad, bad])

    grade(job("same-room"), model, sink, clock)

    assert grader_max_tokens(simulator) == [4096, 4096, 4096]


# ---------------------------------------------------------------- redact, then cut


def test_a_secret_straddling_a_cut_is_redacted_in_verdicts_and_the_trace(
    simulator, model, sink, clock
):
    # One secret across the verdict's 2,000-character cut, one across the trace's 4,000.
    evidence = "q" * 1_985 + SECRET + "q" * (3_980 - 1_985 - len(SECRET)) + SECRET + "q" * 100
    simulator.add_script("leaky", [answer({**GATE, "evidence": evidence}, DEPTH)])

    result = grade(job("leaky", secrets=(SECRET,)), model, sink, clock)

    assert result.graded
    kept = result.verdicts["gate"].evidence
    assert kept == "q" * 1_985 + "[redacte… [cut]"
    logged = sink.events[0].data["content"][0]["input"]["verdicts"][0]["evidence"]
    assert len(logged) == TRACE_TEXT_CHARS
    assert logged.count("[redacted]") == 2
    assert SECRET[:4] not in json.dumps([e.data for e in sink.events])


def test_the_verdict_tool_says_what_the_validator_enforces():
    schema = verdict_tool(RUBRIC).input_schema["properties"]["verdicts"]
    item = schema["items"]

    assert (schema["minItems"], schema["maxItems"]) == (2, 2)
    assert item["required"] == ["key", "passed", "score", "evidence", "feedback"]
    assert (item["properties"]["score"]["minimum"], item["properties"]["score"]["maximum"]) == (
        0,
        10,
    )
    assert "7.5 or more if passed" in item["properties"]["score"]["description"]
    for name in ("evidence", "feedback"):
        assert item["properties"][name]["minLength"] == 1
        assert item["properties"][name]["maxLength"] == 2_000


# ---------------------------------------------------------------- the dream's forced call


def dream_job(name: str) -> DreamJob:
    return DreamJob(
        model="claude-haiku-4-5",
        price=PRICE,
        task=f"Audit the site. [sim:dream={name}]",
        notes=(),
        runs=(),
        floor=7.5,
        token_budget=20_000,
        retry=RetryPolicy(attempts=2, base_backoff=0.01, max_backoff=0.02),
    )


@pytest.mark.parametrize(
    ("turn", "message"),
    [
        (
            Turn(
                tool_uses=(
                    {"name": "submit_memory_changes", "input": {"changes": [], "reason": "None."}},
                ),
                stop_reason="max_tokens",
            ),
            "The dream's answer was cut off at max_tokens",
        ),
        (
            Turn(tool_uses=({"name": "submit_memory_changes", "raw_json": '{"changes": [}'},)),
            "The dream's answer could not be read",
        ),
    ],
)
def test_a_cut_off_or_unreadable_dream_fails_with_its_spend(
    simulator, model, sink, clock, turn, message
):
    simulator.add_script("dreamy", [turn])

    outcome = dream(dream_job("dreamy"), model, sink, clock)

    assert outcome.status == "failed"
    assert outcome.changes == ()
    assert message in outcome.error
    assert outcome.cost_usd > 0
    assert sink.types() == ["dream.response"]
    assert sink.events[0].cost_usd == outcome.cost_usd
    strict_json(sink)


def test_a_dream_answer_whose_stream_ended_early_is_never_used(simulator, model, sink, clock):
    cut = Turn(
        tool_uses=({"name": "submit_memory_changes", "input": {"changes": [], "reason": "None."}},),
        end_early=True,
    )
    simulator.add_script("dream-ended", [cut, cut])

    outcome = dream(dream_job("dream-ended"), model, sink, clock)

    assert outcome.status == "failed"
    assert outcome.tool_input is None
    assert "the stream ended before the reply finished" in outcome.error
    assert sink.types() == ["dream.retry", "dream.error"]


# ---------------------------------------------------------------- the agent loop


class Notebook:
    def __init__(self):
        self.calls = []

    def specs(self):
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        return (ToolSpec("note", "Write a note.", schema),)

    def call(self, name, arguments):
        self.calls.append(arguments)
        return ToolResult("noted")


def test_an_unreadable_agent_reply_is_asked_again_and_its_spend_counted(
    simulator, model, sink, clock
):
    simulator.add_script(
        "garbled-once",
        [
            Turn(tool_uses=({"name": "note", "input": {"text": "a"}},), fail_first=("malformed",)),
            Turn(text="# Done"),
        ],
    )

    outcome = run_agent(make_job("garbled-once"), model, sink, tools=Notebook(), clock=clock)

    assert outcome.status == "succeeded"
    assert sink.types()[:3] == ["run.started", "model.retry", "model.response"]
    retry = sink.events[1]
    assert "not valid JSON" in retry.data["error"]
    assert retry.cost_usd > 0
    assert outcome.cost_usd == sum(e.cost_usd for e in sink.events)
    assert clock.slept == []  # the API is fine: no backoff


def test_an_agent_reply_that_stays_unreadable_fails_the_run_as_a_model_error(
    simulator, model, sink, clock
):
    broken = Turn(tool_uses=({"name": "note", "raw_json": '{"text": }'},))
    simulator.add_script("garbled", [broken])
    tools = Notebook()

    outcome = run_agent(make_job("garbled"), model, sink, tools=tools, clock=clock)

    assert outcome.status == "failed"
    assert outcome.error.startswith("The model's reply could not be read (the tool input")
    assert "after 3 attempts" in outcome.error
    assert sink.types() == [
        "run.started",
        "model.retry",
        "model.retry",
        "model.error",
        "run.finished",
    ]
    assert tools.calls == []
    assert outcome.cost_usd == sum(e.cost_usd for e in sink.events) > 0
    strict_json(sink)


def test_an_agent_turn_whose_stream_ended_early_never_succeeds(simulator, model, sink, clock):
    # A whole-looking final answer, but no stop reason: not a finished turn.
    simulator.add_script("ended", [Turn(text="# Done, trust me", end_early=True)])

    outcome = run_agent(make_job("ended"), model, sink, clock=clock)

    assert outcome.status == "failed"
    assert outcome.output == ""
    assert outcome.error == (
        "The model API kept failing (the stream ended before the reply finished) after 3 attempts."
    )
    assert sink.types() == [
        "run.started",
        "model.retry",
        "model.retry",
        "model.error",
        "run.finished",
    ]
    assert len(clock.slept) == 2  # backed off, as after any broken stream


def test_an_agent_turn_whose_stream_ended_early_once_is_asked_again(simulator, model, sink, clock):
    tools = Notebook()
    simulator.add_script(
        "ended-once",
        [
            Turn(
                tool_uses=({"name": "note", "input": {"text": "a"}},),
                fail_first=("ended_early",),
            ),
            Turn(text="# Done"),
        ],
    )

    outcome = run_agent(make_job("ended-once"), model, sink, tools=tools, clock=clock)

    assert outcome.status == "succeeded"
    assert sink.types()[:3] == ["run.started", "model.retry", "model.response"]
    # The cut reply's tool call never ran: only the finished reply's did, once.
    assert tools.calls == [{"text": "a"}]


def test_a_secret_straddling_the_cut_of_unreadable_tool_input_is_redacted(
    simulator, model, sink, clock
):
    # The trace keeps PARTIAL_CHARS of the broken input; the secret spans that cut.
    head = '{"text": "' + "a" * (PARTIAL_CHARS - 15 - 10)
    broken = Turn(tool_uses=({"name": "note", "raw_json": head + SECRET + '", "n": }'},))
    simulator.add_script("leaky-json", [broken])

    outcome = run_agent(
        make_job("leaky-json", secrets=(SECRET,)), model, sink, tools=Notebook(), clock=clock
    )

    assert outcome.status == "failed"
    retry = sink.events[1]
    assert retry.type == "model.retry"
    assert retry.data["partial_json"] == (head + '[redacted]", "n": }')[:PARTIAL_CHARS]
    # The error says what was wrong, never what the model sent.
    assert '{"text"' not in outcome.error
    assert SECRET[:4] not in json.dumps([e.data for e in sink.events]) + outcome.error


def test_a_secret_straddling_the_cut_of_a_tool_result_is_redacted(simulator, model, sink, clock):
    class Leaky(Notebook):
        def call(self, name, arguments):
            return ToolResult("r" * (TOOL_RESULT_CHARS - 12) + SECRET + "r" * 50)

    simulator.add_script(
        "leaky-tool",
        [Turn(tool_uses=({"name": "note", "input": {"text": "a"}},)), Turn(text="# Done")],
    )

    outcome = run_agent(
        make_job("leaky-tool", secrets=(SECRET,)), model, sink, tools=Leaky(), clock=clock
    )

    assert outcome.status == "succeeded"
    (result,) = [e for e in sink.events if e.type == "tool.result"]
    assert result.data["content"] == "r" * (TOOL_RESULT_CHARS - 12) + "[redacted]rr"
    assert SECRET[:4] not in json.dumps([e.data for e in sink.events])


def test_a_non_finite_number_in_an_agent_tool_call_reaches_the_tool_as_text(
    simulator, model, sink, clock
):
    simulator.add_script(
        "nan-tool",
        [
            Turn(tool_uses=({"name": "note", "raw_json": '{"text": "a", "n": NaN}'},)),
            Turn(text="# Done"),
        ],
    )
    tools = Notebook()

    outcome = run_agent(make_job("nan-tool"), model, sink, tools=tools, clock=clock)

    assert outcome.status == "succeeded"
    assert tools.calls == [{"text": "a", "n": "NaN"}]
    strict_json(sink)


# ---------------------------------------------------------------- the model client


def test_json_safe_turns_what_json_cannot_hold_into_text():
    value = {
        "a": [float("nan"), float("inf"), -math.inf, 1.5, 2, True, None],
        "b\x00": ("x\x00y",),
    }

    assert json_safe(value) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5, 2, True, None],
        "b\ufffd": ["x\ufffdy"],
    }


class NoSnapshot:
    """A stream before message_start: the SDK asserts, or under `python -O` gives None."""

    current_message_snapshot = None


class AssertingSnapshot:
    @property
    def current_message_snapshot(self):
        raise AssertionError


@pytest.mark.parametrize("stream", [NoSnapshot(), AssertingSnapshot()])
def test_an_unreadable_reply_without_a_snapshot_is_malformed_not_a_crash(stream):
    # The SDK's text, whose tail is the tool JSON: it never reaches the message.
    error = ValueError(
        "Unable to parse tool parameter JSON from model. Please retry your request or "
        f'adjust your prompt. Error: expected value at line 1 column 9. JSON: {{"key": "{SECRET}'
    )

    malformed = _malformed(stream, error)

    assert isinstance(malformed, MalformedModelOutputError)
    assert malformed.usage.prompt_tokens == 0
    assert malformed.message == (
        "the tool input is not valid JSON (Unable to parse tool parameter JSON from model. "
        "Please retry your request or adjust your prompt. Error: expected value at line 1 "
        "column 9)"
    )
    assert malformed.partial == f'{{"key": "{SECRET}'  # whole: redacted, then cut, by its user


def test_an_over_long_error_text_is_named_not_cut():
    error = ValueError("x" * 150 + SECRET + "x" * 100)

    malformed = _malformed(NoSnapshot(), error)

    assert malformed.message == "the reply could not be read (ValueError)"


def scripted_request(script: str) -> ModelRequest:
    """A plain request the simulator answers with `[sim:script=NAME]`."""
    return ModelRequest(
        model="claude-sonnet-4-6",
        system=f"[sim:script={script}]",
        messages=[{"role": "user", "content": "Hi."}],
        tools=(),
        max_tokens=100,
        timeout=10,
    )


def test_a_stream_that_ends_before_the_reply_finished_is_transient(simulator, model):
    simulator.add_script(
        "ended", [Turn(text="hello", tool_uses=({"name": "t", "input": {}},), end_early=True)]
    )
    request = scripted_request("ended")
    seen = []

    with pytest.raises(TransientModelError, match="the stream ended before the reply finished"):
        model.complete(request, seen.append)

    assert "".join(seen) == "hello"  # it streamed; it is only the end that never came


def test_the_grader_asks_for_concise_evidence_and_feedback():
    item = verdict_tool(RUBRIC).input_schema["properties"]["verdicts"]["items"]

    assert "Be concise" in GRADER_SYSTEM
    assert "short quote" in item["properties"]["evidence"]["description"]
    assert "briefly" in item["properties"]["feedback"]["description"]


def test_an_on_text_error_is_not_mistaken_for_a_bad_reply(simulator, model):
    simulator.add_script("talk", [Turn(text="hello " * 10)])
    request = scripted_request("talk")

    def broken_callback(chunk):
        raise ValueError("a bug in our callback")

    with pytest.raises(ValueError, match="a bug in our callback") as caught:
        model.complete(request, broken_callback)

    assert not isinstance(caught.value, MalformedModelOutputError)
