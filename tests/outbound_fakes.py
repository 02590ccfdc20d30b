"""Fakes for tests of outbound requests: a resolver table and a loopback HTTP receiver.

Nothing here sends a packet beyond loopback. The fake resolver answers only the
names in its table; any other name fails as unknown instead of reaching a DNS
server, and IP literals are parsed locally (AI_NUMERICHOST).
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeDNS:
    """Patches socket.getaddrinfo with a table {name: [addresses]}; records lookups.

    A name in `hanging` gets no answer until `release` is set, as with a DNS server
    that never replies; a name in `delays` answers after that many seconds. Call
    `close()` at the end of a test to free any lookup still waiting.
    """

    def __init__(self, monkeypatch):
        self.names: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.hanging: set[str] = set()
        self.delays: dict[str, float] = {}
        self.release = threading.Event()
        real = socket.getaddrinfo

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            name = host.decode() if isinstance(host, bytes) else host
            if name in self.hanging:
                self.lookups.append(name)
                self.release.wait(30)
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            if name in self.delays:
                self.release.wait(self.delays[name])
            if name in self.names:
                self.lookups.append(name)
                return [
                    (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
                    if ":" in a
                    else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
                    for a in self.names[name]
                ]
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def close(self):
        self.release.set()


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server; `answer(path)` gives (status, headers, body) for each request."""

    answer: object = None
    tls: ssl.SSLContext | None = None  # a server context: answer over HTTPS
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                receiver.requests.append(
                    Received("POST", self.path, dict(self.headers), self.rfile.read(length))
                )
                status, headers, body = (
                    receiver.answer(self.path) if receiver.answer else (200, {}, b"ok")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815 (the handler's method naming)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path="/hook", host="127.0.0.1"):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
