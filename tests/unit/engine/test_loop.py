"""The agent loop over the official SDK against the simulated Messages API."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal

import pytest

from agents.engine.loop import backoff_delay, redact, run_agent
from agents.engine.pricing import cost_of
from agents.engine.types import RetryPolicy, ToolResult, ToolSpec, Usage
from agents.simulator import Turn
from tests.unit.engine.conftest import PRICE, make_job


class Notebook:
    """A toolbox with one tool that records what it was asked."""

    def __init__(self):
        self.calls = []

    def specs(self):
        return (
            ToolSpec(
                "note",
                "Write a note.",
                {"type": "object", "properties": {"text": {"type": "string"}}},
            ),
        )

    def call(self, name, arguments):
        self.calls.append((name, arguments))
        if arguments.get("text") == "boom":
            raise RuntimeError("disk full")
        return ToolResult(f"noted: {arguments.get('text')}")


def sent_requests(simulator):
    with urllib.request.urlopen(simulator.url + "/_sim/requests") as response:  # noqa: S310
        return json.load(response)


def test_a_tool_using_conversation_runs_to_the_end(simulator, model, sink):
    simulator.add_script(
        "two-steps",
        [
            Turn(
                text="Let me note that.", tool_uses=({"name": "note", "input": {"text": "titles"}},)
            ),
            Turn(text="# Audit\nAll good."),
        ],
    )
    tools = Notebook()

    outcome = run_agent(make_job("two-steps"), model, sink, tools=tools)

    assert outcome.status == "succeeded"
    assert outcome.output == "# Audit\nAll good."
    assert outcome.turns == 2
    assert tools.calls == [("note", {"text": "titles"})]
    assert sink.types() == [
        "run.started",
        "model.response",
        "tool.call",
        "tool.result",
        "model.response",
        "run.finished",
    ]
    # The tool result went back to the model as a tool_result block on a user turn.
    second = sent_requests(simulator)[-1]["body"]
    assert second["messages"][2]["content"][0]["type"] == "tool_result"
    assert second["messages"][2]["content"][0]["content"] == "noted: titles"


def test_usage_and_cost_add_up_with_prompt_caching(simulator, model, sink):
    simulator.add_script(
        "cache", [Turn(tool_uses=({"name": "note", "input": {"text": "a"}},)), Turn(text="done")]
    )

    outcome = run_agent(make_job("cache"), model, sink, tools=Notebook())

    responses = [e for e in sink.events if e.type == "model.response"]
    first, second = responses[0].usage, responses[1].usage
    assert first.cache_write_tokens > 0
    assert first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens  # the stable prefix was cached
    assert outcome.usage == first + second
    assert outcome.cost_usd == cost_of(first, PRICE) + cost_of(second, PRICE)
    assert sum(e.cost_usd for e in sink.events) == outcome.cost_usd
    request = sent_requests(simulator)[-1]["body"]
    assert request["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert request["tools"][-1]["cache_control"] == {"type": "ephemeral"}


def test_text_streams_to_the_caller_as_it_arrives(simulator, model, sink):
    simulator.add_script("long", [Turn(text="word " * 40)])
    chunks = []

    run_agent(make_job("long"), model, sink, on_text=chunks.append)

    assert len(chunks) > 1
    assert "".join(chunks) == "word " * 40
    assert sent_requests(simulator)[-1]["body"]["stream"] is True


def test_transient_errors_are_retried_with_backoff(simulator, model, sink, clock):
    simulator.add_script("flaky", [Turn(text="finally", fail_first=(529, 429))])

    outcome = run_agent(make_job("flaky"), model, sink, clock=clock)

    assert outcome.status == "succeeded"
    retries = [e for e in sink.events if e.type == "model.retry"]
    assert [e.data["status"] for e in retries] == [529, 429]
    # The simulator sends retry-after: 0.05 s; the wait honours it.
    assert all(wait >= 0.05 for wait in clock.slept)
    assert len(clock.slept) == 2


def test_retries_run_out_and_the_run_fails_cleanly(simulator, model, sink, clock):
    simulator.add_script("down", [Turn(text="never", fail_first=(500, 500, 500, 500))])

    outcome = run_agent(make_job("down"), model, sink, clock=clock)

    assert outcome.status == "failed"
    assert "after 3 attempts" in outcome.error
    assert sink.types()[-2:] == ["model.error", "run.finished"]


def test_a_permanent_error_is_not_retried(simulator, model, sink, clock):
    outcome = run_agent(make_job("no-such-script"), model, sink, clock=clock)

    assert outcome.status == "failed"
    assert "404" in outcome.error
    assert clock.slept == []


def test_the_deadline_stops_the_run(simulator, model, sink, clock):
    simulator.add_script("slow", [Turn(text="late", fail_first=(529,))])
    job = make_job(
        "slow", max_runtime=0.01, retry=RetryPolicy(attempts=3, base_backoff=1, max_backoff=1)
    )

    outcome = run_agent(job, model, sink, clock=clock)

    assert outcome.status == "timed_out"
    assert "No time left" in outcome.error


def test_the_budget_guard_stops_before_an_expensive_call(simulator, model, sink):
    simulator.add_script("pricey", [Turn(text="x")])
    # max_tokens 4096 at $15/MTok alone could cost $0.06: more than the budget.
    job = make_job("pricey", budget_usd=Decimal("0.01"))

    outcome = run_agent(job, model, sink)

    # Refused before doing anything: recorded as skipped, with the reason.
    assert outcome.status == "skipped"
    assert "Stopped before model call 1" in outcome.error
    assert sent_requests(simulator) == []


def test_the_budget_guard_fails_a_run_that_spent_its_budget(simulator, model, sink):
    # A long first answer costs real output tokens; the budget covers the first
    # call's worst case ($0.0614 at 4096 tokens) but not what is left after it.
    simulator.add_script(
        "spender",
        [Turn(text="word " * 4000, tool_uses=({"name": "note", "input": {}},)), Turn(text="done")],
    )
    job = make_job("spender", budget_usd=Decimal("0.07"))

    outcome = run_agent(job, model, sink)

    assert outcome.status == "failed"
    assert "Stopped before model call 2" in outcome.error
    assert len(sent_requests(simulator)) == 1


def test_a_failing_tool_is_reported_to_the_model_not_fatal(simulator, model, sink):
    simulator.add_script(
        "boom",
        [Turn(tool_uses=({"name": "note", "input": {"text": "boom"}},)), Turn(text="recovered")],
    )

    outcome = run_agent(make_job("boom"), model, sink, tools=Notebook())

    assert outcome.status == "succeeded"
    result = next(e for e in sink.events if e.type == "tool.result")
    assert result.data["is_error"] is True
    assert "disk full" in result.data["content"]


def test_secrets_never_reach_the_trace(simulator, model, sink):
    secret = "sk-live-SUPERSECRET-123"
    simulator.add_script(
        "leaky",
        [
            Turn(tool_uses=({"name": "note", "input": {"text": f"key={secret}"}},)),
            Turn(text=f"used {secret}"),
        ],
    )

    outcome = run_agent(make_job("leaky", secrets=(secret,)), model, sink, tools=Notebook())

    assert secret not in repr(sink.events)
    assert secret not in outcome.output
    assert "[redacted]" in outcome.output


def test_the_api_key_is_sent_as_the_sdk_sends_it(simulator, model, sink):
    simulator.add_script("hello", [Turn(text="hi")])

    run_agent(make_job("hello"), model, sink)

    headers = sent_requests(simulator)[-1]["headers"]
    assert headers["authorization"] == "Bearer [redacted]"  # sent, but not kept in the log
    assert "anthropic-version" in headers


def test_generated_demo_work_calls_tools_and_writes_a_report(simulator, model, sink):
    class Workspace:
        def __init__(self):
            self.files = {}

        def specs(self):
            obj = {"type": "object"}
            return (
                ToolSpec("list_files", "List files.", obj),
                ToolSpec("write_file", "Write a file.", obj),
            )

        def call(self, name, arguments):
            if name == "write_file":
                self.files[arguments["path"]] = arguments["content"]
                return ToolResult("written")
            return ToolResult("\n".join(self.files) or "(empty)")

    workspace = Workspace()
    outcome = run_agent(make_job(), model, sink, tools=workspace)

    assert outcome.status == "succeeded"
    assert workspace.files["report.md"].startswith("# SEO audit")
    assert "https://acmebakery.test" in workspace.files["report.md"]
    assert outcome.output == workspace.files["report.md"]


@pytest.mark.parametrize("attempt", [0, 1, 2, 5])
def test_backoff_grows_with_jitter_and_respects_retry_after(attempt):
    import random

    job = make_job(retry=RetryPolicy(attempts=9, base_backoff=1, max_backoff=8))
    rng = random.Random(1)
    ceiling = min(8, 2**attempt)

    delays = [backoff_delay(attempt, job.retry, None, rng) for _ in range(50)]

    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1
    assert backoff_delay(attempt, job.retry, 20.0, rng) == 20.0


def test_redact_walks_nested_values():
    value = {"a": ["x-SECRET-y", {"b": "SECRET"}], "n": 3}

    assert redact(value, ("SECRET",)) == {"a": ["x-[redacted]-y", {"b": "[redacted]"}], "n": 3}


def test_cost_is_exact_in_decimal():
    usage = Usage(
        input_tokens=1_000_000, output_tokens=2, cache_write_tokens=0, cache_read_tokens=10
    )

    assert cost_of(usage, PRICE) == Decimal(3) + Decimal(30) / Decimal(1_000_000) + Decimal(
        "3.0"
    ) / Decimal(1_000_000)


def test_a_cancelled_run_stops_at_its_next_step(simulator, model, sink):
    simulator.add_script(
        "long", [Turn(tool_uses=({"name": "note", "input": {"text": "a"}},)), Turn(text="never")]
    )
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 1  # cancelled after the first model call

    outcome = run_agent(make_job("long"), model, sink, tools=Notebook(), should_stop=should_stop)

    assert outcome.status == "cancelled"
    assert sink.types().count("model.response") == 1
    assert "tool.call" not in sink.types()


def test_a_run_cancelled_while_retrying_stops_retrying(simulator, model, sink, clock):
    simulator.add_script("stuck", [Turn(text="x", fail_first=(529,) * 5)])
    answers = iter([False, False, True])

    outcome = run_agent(
        make_job("stuck", retry=RetryPolicy(attempts=5, base_backoff=0.01, max_backoff=0.01)),
        model,
        sink,
        clock=clock,
        should_stop=lambda: next(answers),
    )

    assert outcome.status == "cancelled"
    # Asked at the turn start, then before each retry: the third answer stops it after two waits.
    assert len(clock.slept) == 2
