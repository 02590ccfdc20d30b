"""A simulated Anthropic Messages API on loopback, speaking the real wire format.

POST /v1/messages answers as the API does: JSON, or server-sent events when
`stream` is true, with tool_use blocks, usage including prompt-cache fields,
and the API's error bodies and statuses. The official SDK is pointed at it by
base URL, so nothing in the SDK is replaced. Latency and error injection are
settings; /_sim/* endpoints register scripts and read what was asked.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agents.simulator.conversations import (
    ENDED_EARLY,
    MALFORMED,
    RAW_JSON,
    Script,
    Turn,
    assistant_turns,
    forced_tool,
    generated_turn,
    script_name,
)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
CHARS_PER_TOKEN = 4


@dataclass
class SimulatorConfig:
    latency: float = 0.0  # seconds before each reply
    chunk_delay: float = 0.0  # seconds between streamed text chunks
    error_rates: dict[int, float] = field(default_factory=dict)  # status -> probability
    retry_after: float = 0.05  # seconds, sent with 429 and 529
    seed: int | None = None


def _tokens(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return max(1, len(text) // CHARS_PER_TOKEN)


def _has_cache_control(blocks: Any) -> bool:
    return isinstance(blocks, list) and any(
        isinstance(b, dict) and "cache_control" in b for b in blocks
    )


class SimulatorState:
    """Scripts, the prompt cache, per-position error counters and a request log."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.scripts: dict[str, Script] = {}
        self.rng = random.Random(config.seed)  # noqa: S311 (simulation, not security)
        self.lock = threading.Lock()
        self.cache: set[str] = set()
        self.failures_served: dict[tuple[str, int], int] = {}
        # Grader scripts play one turn per call, in order (each call is a fresh context).
        self.grader_calls: dict[str, int] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=500)

    def add_script(self, name: str, turns: list[Turn]) -> None:
        with self.lock:
            self.scripts[name] = Script(list(turns))
            self.grader_calls.pop(name, None)

    def usage(self, body: dict[str, Any], output: list[dict[str, Any]]) -> dict[str, int]:
        system, tools = body.get("system", ""), body.get("tools", [])
        prefix_tokens = _tokens(system) + (_tokens(tools) if tools else 0)
        rest = _tokens(body.get("messages", []))
        usage = {
            "input_tokens": rest,
            "output_tokens": _tokens(output),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        if _has_cache_control(system) or _has_cache_control(tools):
            key = hashlib.sha256(
                json.dumps([body.get("model"), system, tools], sort_keys=True).encode()
            ).hexdigest()
            with self.lock:
                hit = key in self.cache
                self.cache.add(key)
            usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] = (
                prefix_tokens
            )
        else:
            usage["input_tokens"] += prefix_tokens
        return usage

    def injected_error(self) -> int | None:
        with self.lock:
            for status, rate in self.config.error_rates.items():
                if rate and self.rng.random() < rate:
                    return status
        return None

    def next_turn(self, body: dict[str, Any]) -> Turn | int:
        """The turn to play, or an error status to serve first."""
        name = script_name(body)
        position = assistant_turns(body)
        if name is None:
            return generated_turn(body)
        with self.lock:
            # A revision plays NAME.revN when registered, else NAME again.
            script = self.scripts.get(name) or self.scripts.get(name.split(".rev")[0])
            if script is None:
                return 404
            grader = forced_tool(body) is not None
            if grader:
                position = self.grader_calls.get(name, 0)
            if position >= len(script.turns):
                return Turn(text="(script finished)")
            turn = script.turns[position]
            # Scripted errors count per conversation, identified by its first turn.
            conversation = hashlib.sha256(
                json.dumps(body["messages"][0], sort_keys=True).encode()
            ).hexdigest()
            key = (f"{name}:{conversation}", position)
            served = self.failures_served.get(key, 0)
            if served < len(turn.fail_first):
                self.failures_served[key] = served + 1
                failure = turn.fail_first[served]
                if failure == MALFORMED:
                    return turn.malformed()
                if failure == ENDED_EARLY:
                    return turn.ended_early()
                return int(failure)
            if grader:
                self.grader_calls[name] = position + 1
        return turn


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle's algorithm
    # holds the body back ~40 ms for the client's delayed ACK on a kept-alive
    # connection, a delay the real API does not have.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the run trace is where calls are reported

    # ------------------------------------------------------------ plumbing
    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")  # type: ignore[no-any-return]

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_sim_{uuid.uuid4().hex[:20]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str) -> None:
        headers = {}
        if status in (429, 529):
            headers["retry-after"] = f"{self.server.state.config.retry_after:g}"
        error = {
            "type": "error",
            "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message},
        }
        self._send_json(status, error, headers)

    # ------------------------------------------------------------ routes
    def do_GET(self) -> None:
        state = self.server.state
        if self.path == "/_sim/health":
            self._send_json(200, {"ok": True})
        elif self.path == "/_sim/requests":
            with state.lock:
                self._send_json(200, list(state.requests))
        else:
            self._send_error(404, f"No route {self.path}")

    def do_POST(self) -> None:
        state = self.server.state
        try:
            body = self._read_json()
        except json.JSONDecodeError:
            self._send_error(400, "The body is not JSON.")
            return
        if self.path == "/_sim/scripts":
            state.add_script(body["name"], [Turn.from_dict(t) for t in body["turns"]])
            self._send_json(200, {"ok": True})
            return
        if self.path.split("?")[0] != "/v1/messages":
            self._send_error(404, f"No route {self.path}")
            return
        for required in ("model", "max_tokens", "messages"):
            if required not in body:
                self._send_error(400, f"{required}: Field required")
                return
        with state.lock:
            headers = {k.lower(): v for k, v in self.headers.items()}
            # The log is served without login: never keep a credential in it.
            for secret_header in ("authorization", "x-api-key"):
                if secret_header in headers:
                    headers[secret_header] = headers[secret_header].split(" ")[0] + " [redacted]"
            state.requests.append({"headers": headers, "body": body})
        if state.config.latency:
            time.sleep(state.config.latency)
        injected = state.injected_error()
        if injected:
            self._send_error(injected, f"Simulated {injected}.")
            return
        turn = state.next_turn(body)
        if isinstance(turn, int):
            self._send_error(
                turn, f"Simulated {turn}." if turn != 404 else "No such simulator script."
            )
            return
        position = assistant_turns(body)
        content = turn.content(position)
        # Scripted raw tool input: streamed verbatim; a whole reply carries it parsed.
        raw_inputs = {n: b.pop(RAW_JSON) for n, b in enumerate(content) if RAW_JSON in b}
        if not body.get("stream"):
            try:
                for n, raw in raw_inputs.items():
                    # Python's json reads NaN and Infinity, as the SDK's parser does.
                    content[n]["input"] = json.loads(raw)
            except ValueError:
                self._send_error(500, "The model's tool input was not JSON.")
                return
        message = {
            "id": f"msg_sim_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": None if turn.end_early else turn.final_stop_reason(),
            "stop_sequence": None,
            "usage": state.usage(body, content),
        }
        if body.get("stream"):
            try:
                self._stream(message, raw_inputs, turn.end_early)
            except (BrokenPipeError, ConnectionResetError):
                # The client hung up mid-stream (the SDK does on tool input it cannot
                # parse), as a real client may: nothing is left to send.
                self.close_connection = True
        else:
            self._send_json(200, message)

    def _stream(
        self, message: dict[str, Any], raw_inputs: dict[int, str], end_early: bool = False
    ) -> None:
        """Stream `message` as the API does; with `end_early`, stop after its content.

        The connection then closes cleanly (`connection: close`, no error): no
        message_delta (the stop reason and the final usage) and no message_stop.
        """
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.send_header("request-id", f"req_sim_{uuid.uuid4().hex[:20]}")
        self.end_headers()
        self.close_connection = True
        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        self._event("message_start", {"type": "message_start", "message": start})
        delay = self.server.state.config.chunk_delay
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                text = block["text"]
                for at in range(0, len(text), 24):
                    if delay:
                        time.sleep(delay)
                    delta = {"type": "text_delta", "text": text[at : at + 24]}
                    self._event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            else:
                start_block = {
                    "type": "tool_use",
                    "id": block["id"],
                    "name": block["name"],
                    "input": {},
                }
                self._event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start_block},
                )
                # A script's raw text as it is; else the input as JSON, where Python
                # writes a float NaN or infinity as NaN or Infinity, as a model might.
                raw = raw_inputs.get(index)
                if raw is None:
                    raw = json.dumps(block["input"], allow_nan=True)
                for at in range(0, len(raw), 40):
                    delta = {"type": "input_json_delta", "partial_json": raw[at : at + 40]}
                    self._event(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        if end_early:
            return
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        self._event("message_stop", {"type": "message_stop"})

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        super().__init__(address, _Handler)
        self.state = state


class Simulator:
    """Run the simulated API in a background thread: `with Simulator() as sim: sim.url`."""

    def __init__(
        self, config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = SimulatorState(config or SimulatorConfig())
        self.httpd = SimulatorHTTPServer((host, port), self.state)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_script(self, name: str, turns: list[Turn]) -> None:
        self.state.add_script(name, turns)

    def start(self) -> Simulator:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
