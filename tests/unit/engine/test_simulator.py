"""The simulator speaks the wire format the official SDK expects, streaming or not."""

from __future__ import annotations

import anthropic
import pytest

from agents.engine.llm import AnthropicModelClient, ModelRequest
from agents.engine.loop import run_agent
from agents.engine.types import RetryPolicy
from agents.simulator import Simulator, SimulatorConfig, Turn
from agents.simulator.__main__ import parse_rates
from tests.unit.engine.conftest import ListSink, make_job


def test_a_plain_json_reply_parses_in_the_sdk(simulator):
    simulator.add_script(
        "plain", [Turn(text="hello", tool_uses=({"name": "t", "input": {"a": [1, 2]}},))]
    )
    client = anthropic.Anthropic(api_key="x", base_url=simulator.url, max_retries=0)

    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        system="[sim:script=plain]",
        messages=[{"role": "user", "content": "hi"}],
    )

    assert message.stop_reason == "tool_use"
    assert message.content[0].text == "hello"
    assert message.content[1].input == {"a": [1, 2]}
    assert message.usage.input_tokens > 0
    assert message._request_id.startswith("req_sim_")


def test_errors_arrive_as_the_sdks_exceptions(simulator):
    simulator.add_script("busy", [Turn(text="x", fail_first=(529,))])
    client = anthropic.Anthropic(api_key="x", base_url=simulator.url, max_retries=0)

    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(
            model="m",
            max_tokens=10,
            system="[sim:script=busy]",
            messages=[{"role": "user", "content": "hi"}],
        )

    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert caught.value.response.headers["retry-after"] == "0.05"


def test_a_missing_field_is_a_400_bad_request(simulator):
    client = anthropic.Anthropic(api_key="x", base_url=simulator.url, max_retries=0)

    with pytest.raises(anthropic.BadRequestError):
        client.post("/v1/messages", body={"model": "m"}, cast_to=object)


def test_streaming_tool_input_is_reassembled(simulator):
    big = {"path": "report.md", "content": "line\n" * 200}
    simulator.add_script("big", [Turn(tool_uses=({"name": "write_file", "input": big},))])
    client = AnthropicModelClient("x", simulator.url)
    request = ModelRequest(
        "m", "[sim:script=big]", [{"role": "user", "content": "go"}], (), 100, 10
    )

    turn = client.complete(request)

    assert turn.tool_uses[0]["input"] == big


def test_a_stream_can_end_early_with_no_error_and_no_stop_reason(simulator):
    """What `end_early` plays: content, then a clean close; the SDK raises nothing."""
    simulator.add_script(
        "ended",
        [Turn(text="partial", tool_uses=({"name": "t", "input": {"a": 1}},), end_early=True)],
    )
    client = anthropic.Anthropic(api_key="x", base_url=simulator.url, max_retries=0)
    params = {
        "model": "m",
        "max_tokens": 100,
        "system": "[sim:script=ended]",
        "messages": [{"role": "user", "content": "hi"}],
    }

    with client.messages.stream(**params) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
    whole = client.messages.create(**params)

    assert "message_delta" not in events
    assert "message_stop" not in events
    assert events[-1] == "content_block_stop"
    assert message.stop_reason is None
    assert message.content[0].text == "partial"
    assert message.content[1].input == {"a": 1}
    assert whole.stop_reason is None  # not streamed: the same reply, no stop reason


def test_ended_early_in_fail_first_serves_the_cut_stream_once(simulator):
    simulator.add_script("once", [Turn(text="done", fail_first=("ended_early",))])
    client = anthropic.Anthropic(api_key="x", base_url=simulator.url, max_retries=0)
    params = {
        "model": "m",
        "max_tokens": 100,
        "system": "[sim:script=once]",
        "messages": [{"role": "user", "content": "hi"}],
    }

    reasons = []
    for _ in range(2):
        with client.messages.stream(**params) as stream:
            reasons.append(stream.get_final_message().stop_reason)

    assert reasons == [None, "end_turn"]


def test_a_scripted_turn_from_json_can_end_early():
    assert Turn.from_dict({"text": "x", "end_early": True}).end_early is True
    assert Turn.from_dict({"text": "x"}).end_early is False


def test_injected_errors_end_every_run_cleanly():
    """With 30% of calls failing, runs retry; each ends succeeded or failed, none hangs."""
    config = SimulatorConfig(
        error_rates={429: 0.15, 529: 0.1, 500: 0.05}, seed=3, retry_after=0.001
    )
    with Simulator(config) as sim:
        model = AnthropicModelClient("x", sim.url)
        job = make_job(retry=RetryPolicy(attempts=4, base_backoff=0.001, max_backoff=0.002))
        outcomes = [run_agent(job, model, ListSink()) for _ in range(20)]

    statuses = {o.status for o in outcomes}
    assert statuses <= {"succeeded", "failed"}
    assert "succeeded" in statuses
    for outcome in outcomes:
        assert outcome.status == "succeeded" or "attempts" in outcome.error


def test_error_rates_parse_from_the_command_line():
    assert parse_rates("429=0.1,529=0.05") == {429: 0.1, 529: 0.05}
    assert parse_rates("") == {}
