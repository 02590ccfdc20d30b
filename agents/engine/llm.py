"""The model client: the only module that imports `anthropic`.

The engine talks to a ModelClient. AnthropicModelClient drives the official
SDK with its own retries off (the engine retries, so each retry is an event
on the run's trace), streams the reply so the run page can show progress, and
maps the SDK's errors onto TransientModelError or PermanentModelError; a reply
that cannot be read (tool input that is not JSON) is MalformedModelOutputError.
A stream that ends before the reply finished (no stop reason came) is a
TransientModelError like any broken stream: its content is never used.
What the model sent reaches the engine as strict JSON data (`json_safe`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic
import httpx2
from anthropic.lib.streaming import MessageStream

from agents.engine.errors import MalformedModelOutputError, PermanentModelError, TransientModelError
from agents.engine.types import ToolSpec, Usage

# Statuses worth retrying: timeout, conflict, rate limit, server errors, overloaded.
TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Error types worth retrying; a stream that fails midway arrives as status 200 with one.
TRANSIENT_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
# An SDK error text longer than this is named by its type only (it is never cut: a
# cut could split a secret that redaction then misses).
DETAIL_CHARS = 200


def json_safe(value: Any) -> Any:
    """`value` as data every JSON column accepts, still showing what the model sent.

    Python writes NaN and Infinity into JSON, but they are not JSON: the database
    refuses the row (the run crashed, its spend lost). PostgreSQL's jsonb also
    refuses the NUL character. So non-finite floats become the strings "NaN",
    "Infinity" and "-Infinity" (a validator then sees a string, never a number),
    and NUL becomes U+FFFD.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return str(error.get("type", "")) if isinstance(error, dict) else ""


@dataclass(frozen=True)
class ModelRequest:
    model: str
    system: str
    messages: list[dict[str, Any]]
    tools: tuple[ToolSpec, ...]
    max_tokens: int
    timeout: float
    # {"type": "tool", "name": ...} forces that tool (the grader's verdicts).
    tool_choice: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelTurn:
    """The assistant's reply: content blocks in the API's own shape."""

    content: list[dict[str, Any]]
    stop_reason: str
    usage: Usage
    request_id: str = ""

    @property
    def text(self) -> str:
        return "".join(b["text"] for b in self.content if b["type"] == "text")

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b["type"] == "tool_use"]


class ModelClient(Protocol):
    def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelTurn:
        """Send one request; call `on_text` with text as it streams in."""
        ...


def _cached_system(system: str) -> list[dict[str, Any]]:
    # The system prompt is the stable prefix of every call in a run: cache it.
    return [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]


def _tool_params(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema}
        for t in tools
    ]
    if params:
        # A breakpoint on the last tool caches the whole tool list with the system.
        params[-1]["cache_control"] = {"type": "ephemeral"}
    return params


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name) if headers is not None else None
        if raw:
            try:
                return float(raw) * scale
            except ValueError:
                continue
    return None


class AnthropicModelClient:
    """ModelClient over the official SDK; base_url points it at Anthropic or the simulator."""

    def __init__(self, api_key: str, base_url: str | None = None) -> None:
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url, max_retries=0)

    def complete(
        self, request: ModelRequest, on_text: Callable[[str], None] | None = None
    ) -> ModelTurn:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "system": _cached_system(request.system),
            "messages": request.messages,
        }
        if request.tools:
            params["tools"] = _tool_params(request.tools)
        if request.tool_choice is not None:
            params["tool_choice"] = request.tool_choice
        try:
            with self._client.messages.stream(**params, timeout=request.timeout) as stream:
                message = _read(stream, on_text)
        except anthropic.APIStatusError as exc:
            detail = f"{exc.status_code} {type(exc).__name__}: {exc.message}"
            if exc.status_code in TRANSIENT_STATUSES or _error_type(exc) in TRANSIENT_TYPES:
                raise TransientModelError(
                    detail, exc.status_code, _retry_after(exc.response.headers)
                ) from exc
            raise PermanentModelError(detail, exc.status_code) from exc
        except anthropic.APITimeoutError as exc:
            raise TransientModelError(f"timed out after {request.timeout:.0f} s") from exc
        except anthropic.APIConnectionError as exc:
            raise TransientModelError(f"connection failed: {exc}") from exc
        except httpx2.TransportError as exc:
            # Raised bare by the SDK when a stream breaks after it has started.
            raise TransientModelError(f"the stream broke: {type(exc).__name__}") from exc
        if message is None or message.stop_reason is None:
            # The connection closed cleanly before message_delta: the SDK raises nothing,
            # and what came (however whole it looks) is not a finished reply.
            raise TransientModelError(
                "the stream ended before the reply "
                + ("started" if message is None else "finished")
            )
        return ModelTurn(
            content=json_safe([block.model_dump(exclude_none=True) for block in message.content]),
            stop_reason=message.stop_reason,
            usage=_usage(message.usage),
            request_id=getattr(message, "_request_id", None) or "",
        )


def _usage(usage: anthropic.types.Usage) -> Usage:
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        cache_read_tokens=usage.cache_read_input_tokens or 0,
    )


def _read(
    stream: MessageStream, on_text: Callable[[str], None] | None
) -> anthropic.types.Message | None:
    """Consume the stream, handing text to `on_text` as it comes; return the whole message.

    None when the stream ended before message_start. The SDK raises a bare
    ValueError when the model's tool input is not JSON (its partial-JSON parser
    runs as the input streams in): that becomes MalformedModelOutputError. A
    ValueError from `on_text` is ours, and stays one.
    """
    chunks: Iterator[str] = iter(stream.text_stream if on_text is not None else ())
    while True:
        try:
            chunk = next(chunks, None)
            if chunk is None:
                stream.until_done()
                return _snapshot(stream)
        except ValueError as exc:
            raise _malformed(stream, exc) from exc
        if on_text is not None:
            on_text(chunk)


def _snapshot(stream: MessageStream) -> anthropic.types.Message | None:
    """The message so far; None before message_start.

    The SDK asserts it is there, so it raises AssertionError, or (under
    `python -O`) returns None.
    """
    try:
        message: anthropic.types.Message | None = stream.current_message_snapshot
    except AssertionError:
        return None
    return message


def _malformed(stream: MessageStream, exc: ValueError) -> MalformedModelOutputError:
    """The error for an unreadable reply, with what it cost as far as the stream told.

    Its message is the SDK's text without the tool JSON it quotes: that is model
    text, kept whole (and redacted by whoever stores it) in `partial` only.
    """
    snapshot = _snapshot(stream)
    # message_start came (deltas only follow it): its usage holds the input tokens.
    usage = _usage(snapshot.usage) if snapshot is not None else Usage()
    # The SDK's message ends with the tool JSON it could not parse.
    partial = str(exc).partition(". JSON: ")[2]
    what = "the tool input is not valid JSON" if partial else "the reply could not be read"
    detail = str(exc.__cause__ or exc).partition(". JSON: ")[0]
    if len(detail) > DETAIL_CHARS:
        detail = type(exc.__cause__ or exc).__name__
    return MalformedModelOutputError(f"{what} ({detail})", usage, partial)
