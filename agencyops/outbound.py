"""The outbound-URL guard: every request to a URL a user entered goes through here.

A URL is refused unless it is http(s), names a host without user info, and every
address the host resolves to is public: not loopback, link-local, private, shared
(100.64/10), multicast, reserved or unspecified, nor an IPv6 form of one of those.
`check_url` does that at save time; `post` does it again at connect time and then
connects to the very addresses it checked (never resolving the name a second
time, so a DNS answer that changes in between cannot slip past), keeping the name
for the Host header and for TLS (SNI and certificate checks). Redirects are
never followed, the whole request has one deadline, and the answer is read only
up to a bound.

Name lookups have a deadline too (`RESOLVE_TIMEOUT`, and within a request's own):
they run in a daemon thread the caller stops waiting for, so a domain whose DNS
never answers cannot hold a web worker or the alerts task for the resolver's
10-30 s. A lookup that fails or times out is refused like a non-public address.

`OUTBOUND_ALLOW_PRIVATE` lets a self-hosted install reach loopback and private
networks. Link-local (cloud metadata at 169.254.169.254), multicast and
unspecified addresses stay refused even then: nothing legitimate listens there.

What may be shown is one of three outcomes: it worked, it failed, or it was
refused as not public (which includes "could not be resolved", so a refusal does
not tell whether an internal name exists). How a connection failed (refused,
timed out, TLS, an HTTP error) would tell a closed port from a filtered or an
open one, so it is in `detail` and the server log only, never in `reason` or
`message`.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_TIMEOUT = 10.0
# Longest wait for a name lookup: at save time, and capped by the request's deadline.
RESOLVE_TIMEOUT = 3.0
# Lookups in flight at once (each in its own daemon thread); a lookup waits for a
# slot within its deadline, so names that never answer cannot pile up threads.
MAX_PENDING_LOOKUPS = 16
DEFAULT_MAX_RESPONSE_BYTES = 65_536
USER_AGENT = "AgencyOps"

# Ranges the interpreter's `is_global` misses on some Python versions (3.12.1 calls
# 192.0.0.0/24 and fec0::/10 global), listed so the answer does not depend on it.
_NEVER_GLOBAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "fec0::/10",
        "2001:db8::/32",
    )
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a translator
# would forward to: judge the IPv4 address. NAT64, and the IPv4-translated form
# ::ffff:0:a.b.c.d (RFC 2765), which `ipv4_mapped` (::ffff:a.b.c.d) does not cover.
_EMBEDS_IPV4 = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96")
)


class OutboundError(Exception):
    """A request that was refused or failed.

    `reason` is a coarse phrase safe to show to anyone ("the request failed") and is
    the exception's only argument; `message` is a sentence for a form field;
    `detail` says more ("the destination refused the connection") for the server
    log only: shown, it would map ports and networks.
    """

    def __init__(self, reason: str, message: str = "", *, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message or f"{reason[0].upper()}{reason[1:]}."
        self.detail = detail or reason


class URLRefusedError(OutboundError):
    """Refused before any connection: not a usable URL, or not a public destination."""


class NotPublicError(URLRefusedError):
    """The host is, or resolves to, an address that is not public, or its name could
    not be resolved (in time): one answer for both, so that it does not tell whether
    an internal name exists."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the destination is not a public address",
            "This address is not public or could not be resolved. AgencyOps does not "
            "connect to loopback, link-local or private network addresses, nor to names "
            "that do not resolve.",
            detail=detail or "not a public address",
        )


class RequestFailedError(OutboundError):
    """The connection was made (or tried) and did not give a usable answer.

    Whatever went wrong, `reason` and `message` are the same; `detail` (for the log)
    says what it was."""

    def __init__(self, detail: str) -> None:
        super().__init__("the request failed", "The request failed.", detail=detail)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to call the host while doing it."""

    scheme: str
    host: str  # ASCII (IDNA) name or IP literal, for Host and TLS
    port: int
    path: str  # path and query, percent-encoded
    addresses: tuple[str, ...]  # every address the host resolved to, each checked


@dataclass(frozen=True)
class Response:
    """The destination's answer; a redirect is returned as it is, never followed."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes  # at most the bound given to the request
    truncated: bool

    def raise_for_status(self) -> None:
        """Raise RequestFailedError unless the answer is a 2xx (a redirect counts as a failure)."""
        if 300 <= self.status < 400:
            raise RequestFailedError(
                f"the destination answered with a redirect (HTTP {self.status}), not followed"
            )
        if not 200 <= self.status < 300:
            raise RequestFailedError(f"the destination answered with HTTP {self.status}")


# ------------------------------------------------------------------ checking


def allow_private() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE", False))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, translated, compatible, 6to4,
    NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _EMBEDS_IPV4) or (int(ip) >> 32 == 0 and int(ip) > 1):
        # NAT64, IPv4-translated, or the deprecated IPv4-compatible ::a.b.c.d form
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def never_allowed(ip: IPAddress) -> bool:
    """Addresses refused even when private destinations are allowed."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None and never_allowed(embedded):
        return True
    return ip.is_unspecified or ip.is_multicast or ip.is_link_local


def is_public(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None and not is_public(embedded):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip.ipv4_mapped):
        return False  # a mapped address is judged above; never connect to the v6 form
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or any(ip.version == net.version and ip in net for net in _NEVER_GLOBAL)
    )


def _allowed(ip: IPAddress, private_ok: bool) -> bool:
    if never_allowed(ip) or (isinstance(ip, ipaddress.IPv6Address) and ip.scope_id):
        return False  # a zone names an interface of this machine: never from a URL
    return private_ok or is_public(ip)


def _ends_in_number(host: str) -> bool:
    # The WHATWG URL rule: such a host is parsed as IPv4 (2130706433, 0177.0.0.1,
    # 0x7f.1 all mean 127.0.0.1), whatever a resolver might make of it.
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return last.isdigit() or (last.lower().startswith("0x") and len(last) > 2)


def _literal(host: str, private_ok: bool) -> IPAddress | None:
    """The host as an IP address if it is one; refuses odd numeric spellings and zones."""
    if "%" in host:  # an IPv6 zone ([fe80::1%25eth0]); no host name carries a %
        raise URLRefusedError(
            "the address is not a valid host name",
            "Write the host as a name, or as an IP address without a zone (the part from %).",
        )
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if not _allowed(ip, private_ok):
            raise NotPublicError
        return ip
    if not _ends_in_number(host):
        return None
    try:
        decoded = ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        decoded = None
    if decoded is not None and not _allowed(decoded, private_ok):
        raise NotPublicError
    raise URLRefusedError(
        "the address is not a valid host name",
        "Write the host as a name, or as an IP address in the usual dotted form.",
    )


_lookup_slots = threading.BoundedSemaphore(MAX_PENDING_LOOKUPS)


def _getaddrinfo(host: str, port: int, timeout: float) -> list[Any]:
    """socket.getaddrinfo, given up on after `timeout` seconds (raises TimeoutError).

    The lookup runs in a daemon thread: C's getaddrinfo cannot be interrupted, so a
    lookup given up on finishes on its own (within the resolver's own timeouts)
    while the caller goes on. Its slot is freed only then, which bounds the threads
    that names never answering can hold.
    """
    deadline = time.monotonic() + timeout
    slots = _lookup_slots  # the one this lookup holds, released by the same thread
    if not slots.acquire(timeout=max(timeout, 0)):
        raise TimeoutError("every lookup slot is busy")
    done = threading.Event()
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            )
        except BaseException as exc:  # handed to the caller, if it still waits
            outcome.append(exc)
        finally:
            slots.release()
            done.set()

    try:
        threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    except BaseException:
        slots.release()
        raise
    if not done.wait(max(deadline - time.monotonic(), 0)):
        raise TimeoutError(f"no answer within {timeout:g} s")
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return list(result)


def _resolve(host: str, port: int, timeout: float) -> tuple[str, ...]:
    """Every address `host` resolves to, within `timeout` seconds.

    A name that does not resolve, or not in time, raises NotPublicError: the same
    refusal as a private address, so the answer does not tell an internal name that
    exists from one that does not.
    """
    try:
        infos = _getaddrinfo(host, port, timeout)
    except (OSError, UnicodeError) as exc:  # TimeoutError is an OSError
        logger.info("Outbound: %s did not resolve: %r", host, exc)
        raise NotPublicError(f"the name did not resolve: {exc!r}") from None
    # Keep the resolver's order (it ranks them), without repeats.
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise NotPublicError("the name resolved to no address")
    return addresses


def check_url(url: str, *, private_ok: bool | None = None, timeout: float | None = None) -> Target:
    """Parse `url` and resolve its host; raise URLRefusedError unless every address is allowed.

    `private_ok` defaults to the OUTBOUND_ALLOW_PRIVATE setting; `timeout` (for the
    name lookup) to RESOLVE_TIMEOUT. A name that does not resolve in time is refused.
    """
    private_ok = allow_private() if private_ok is None else private_ok
    timeout = RESOLVE_TIMEOUT if timeout is None else timeout
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise URLRefusedError("the address is not a valid URL", "Enter an http:// or https:// URL.")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # an unbalanced [ in the host
        raise URLRefusedError(
            "the address is not a valid URL", "Enter an http:// or https:// URL."
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise URLRefusedError("the address is not a valid URL", "Enter an http:// or https:// URL.")
    if "@" in parts.netloc:
        raise URLRefusedError(
            "the address carries a user name or password",
            "Leave the user name and password out of the URL.",
        )
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise URLRefusedError(
            "the address has an invalid port", "The port must be a number up to 65535."
        ) from None
    raw_host = parts.hostname or ""
    if not raw_host:
        raise URLRefusedError("the address has no host", "Enter an http:// or https:// URL.")
    literal = _literal(raw_host, private_ok)
    if literal is not None:
        host = raw_host
        addresses: tuple[str, ...] = (str(literal),)
    else:
        try:
            host = raw_host.encode("idna").decode("ascii").rstrip(".").lower()
        except UnicodeError:
            raise URLRefusedError(
                "the address is not a valid host name", "This host name is not valid."
            ) from None
        if not private_ok and (host == "localhost" or host.endswith(".localhost")):
            raise NotPublicError  # RFC 6761: always this machine, whatever DNS says
        addresses = _resolve(host, port, timeout)
        for address in addresses:
            if not _allowed(ipaddress.ip_address(address), private_ok):
                logger.info("Outbound: %s resolves to %s, refused", host, address)
                raise NotPublicError(f"the name resolves to {address}")
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)


# ------------------------------------------------------------------ connecting


class _Watchdog:
    """Cuts the connection at the deadline, whatever it is doing: per-call socket
    timeouts alone would let a destination that trickles a byte at a time (headers
    included) hold a worker for as long as it likes."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        self.expired = True
        if self.sock is not None:
            # The base class's shutdown, on the descriptor only: SSLSocket's own would
            # drop its TLS state under the reading thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def check(self) -> None:
        if self.expired or time.monotonic() >= self.deadline:
            raise TimeoutError


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked addresses, while `host` stays the name (Host header)."""

    addresses: tuple[str, ...] = ()
    watchdog: _Watchdog

    def connect(self) -> None:
        last: OSError = OSError("no address to connect to")
        for address in self.addresses:
            self.watchdog.check()
            remaining = self.watchdog.deadline - time.monotonic()
            try:
                self.sock = socket.create_connection(
                    (address, self.port), min(remaining, self.timeout or remaining)
                )
            except OSError as exc:
                last = exc
                continue
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.watchdog.sock = self.sock
            return
        raise last


class _PinnedHTTPSConnection(http.client.HTTPSConnection, _PinnedHTTPConnection):
    # The MRO puts _PinnedHTTPConnection.connect under HTTPSConnection.connect, so the
    # stdlib still wraps the socket with SNI and checks the certificate against `host`.

    def connect(self) -> None:
        super().connect()
        self.watchdog.sock = self.sock  # the TLS socket now owns the descriptor


def _connection(
    target: Target, watchdog: _Watchdog, context: ssl.SSLContext | None
) -> _PinnedHTTPConnection:
    connection: _PinnedHTTPConnection
    timeout = watchdog.deadline - time.monotonic()
    if target.scheme == "https":
        connection = _PinnedHTTPSConnection(
            target.host,
            target.port,
            timeout=timeout,
            context=context or ssl.create_default_context(),
        )
    else:
        connection = _PinnedHTTPConnection(target.host, target.port, timeout=timeout)
    connection.addresses = target.addresses
    connection.watchdog = watchdog
    return connection


def _failure(exc: BaseException) -> RequestFailedError:
    """The failure, with what kind it was as its log-only detail."""
    if isinstance(exc, TimeoutError):
        return RequestFailedError("the destination did not answer in time")
    if isinstance(exc, ConnectionRefusedError):
        return RequestFailedError("the destination refused the connection")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return RequestFailedError(f"the secure connection could not be set up: {exc!r}")
    if isinstance(exc, http.client.HTTPException):
        return RequestFailedError(f"the destination's answer could not be read: {exc!r}")
    return RequestFailedError(f"the connection failed: {exc!r}")


def _read(response: http.client.HTTPResponse, limit: int, watchdog: _Watchdog) -> bytes:
    """Up to `limit` + 1 bytes of the body, so the caller can tell it was cut."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = response.read1(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    watchdog.check()  # an end of data caused by the watchdog is no end of the answer
    return b"".join(chunks)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    private_ok: bool | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    """POST `body` to `url` after checking it again; never follows a redirect.

    Raises URLRefusedError before connecting to anything not allowed (or a name that
    does not resolve within RESOLVE_TIMEOUT), and RequestFailedError when the
    connection or the answer fails or `timeout` passes; it covers the whole request,
    the name lookup included. Any HTTP status is returned as a Response.
    """
    deadline = time.monotonic() + timeout
    target = check_url(url, private_ok=private_ok, timeout=min(timeout, RESOLVE_TIMEOUT))
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RequestFailedError("no time was left after the name lookup")
    response: http.client.HTTPResponse | None = None
    with _Watchdog(remaining) as watchdog:
        connection = _connection(target, watchdog, context)
        try:
            connection.request(
                "POST",
                target.path,
                body=body,
                headers={
                    "User-Agent": USER_AGENT,
                    "Connection": "close",
                    "Content-Type": "application/json",
                    **(headers or {}),
                },
            )
            response = connection.getresponse()
            data = _read(response, max_response_bytes, watchdog)
        except (OSError, http.client.HTTPException) as exc:
            logger.info("Outbound: POST to %s:%s failed: %r", target.host, target.port, exc)
            raise _failure(TimeoutError() if watchdog.expired else exc) from None
        finally:
            if response is not None:
                response.close()
            connection.close()
    return Response(
        status=response.status,
        headers=tuple(response.getheaders()),
        body=data[:max_response_bytes],
        truncated=len(data) > max_response_bytes,
    )
