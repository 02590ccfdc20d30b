"""The outbound-URL guard: what it refuses, and how it connects to what it allows.

Every server here listens on 127.0.0.1 and every name resolves through a fake
table, so no packet leaves loopback.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agencyops import outbound
from tests.outbound_fakes import FakeDNS, Receiver

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:4700::1111"


@pytest.fixture
def dns(monkeypatch):
    fake = FakeDNS(monkeypatch)
    fake.names.update(
        {
            "hooks.example.test": [PUBLIC_V4, PUBLIC_V6],
            "internal.example.test": ["10.1.2.3"],
            "mixed.example.test": [PUBLIC_V4, "127.0.0.1"],
            "metadata.example.test": ["169.254.169.254"],
            "ula.example.test": ["fd00::1"],
            "mapped.example.test": ["::ffff:10.0.0.1"],
            "translated.example.test": ["::ffff:0:a9fe:a9fe"],  # 169.254.169.254
            "zoned.example.test": [f"{PUBLIC_V6}%1"],
            "localhost": ["127.0.0.1", "::1"],
        }
    )
    yield fake
    fake.close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


NOT_PUBLIC = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/x",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:6379/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated 127.0.0.1
    "http://[::ffff:0:a00:1]/",  # IPv4-translated 10.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fec0::1]/",
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://100.64.0.1/",
    "http://192.0.0.8/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0177.0.0.1/",  # in octal
    "http://0x7f.1/",
    "http://127.1/",
    "http://0/",
    "http://localhost:8000/",
    "http://LOCALHOST./",
    "http://api.localhost/",
    "http://internal.example.test/",
    "http://mixed.example.test/",  # one private answer is enough
    "http://metadata.example.test/",
    "http://ula.example.test/",
    "http://mapped.example.test/",
    "http://translated.example.test/",
    "http://zoned.example.test/",  # a zone in a resolver's answer
    "https://10.0.0.1:443/",
    # A name that does not resolve gets the same refusal: a different one would tell
    # which internal names exist.
    "http://nowhere.example.test/",
]
NOT_PUBLIC_MESSAGE = "This address is not public or could not be resolved."


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_non_public_destinations_are_refused(dns, url):
    with pytest.raises(outbound.NotPublicError) as refused:
        outbound.check_url(url, private_ok=False)

    assert refused.value.message.startswith(NOT_PUBLIC_MESSAGE)
    assert refused.value.reason == "the destination is not a public address"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.test/", "Enter an http:// or https:// URL."),
        ("file:///etc/passwd", "Enter an http:// or https:// URL."),
        ("javascript:alert(1)", "Enter an http:// or https:// URL."),
        ("http:///no-host", "Enter an http:// or https:// URL."),
        ("http://hooks.example.test/a b", "Enter an http:// or https:// URL."),
        ("http://hooks.example.test/\r\nX-Injected: 1", "Enter an http:// or https:// URL."),
        ("http://[::1/", "Enter an http:// or https:// URL."),
        ("http://user:pw@hooks.example.test/", "Leave the user name and password out"),
        ("http://hooks.example.test@127.0.0.1/", "Leave the user name and password out"),
        ("http://hooks.example.test:99999/", "The port must be a number up to 65535."),
        ("http://8.8.8.8.8/", "Write the host as a name, or as an IP address"),
        ("http://134744072/", "Write the host as a name, or as an IP address"),  # 8.8.8.8
        # A zone names an interface of this machine, whatever the address.
        (f"http://[{PUBLIC_V6}%25lo]/", "Write the host as a name, or as an IP address without"),
        (f"http://[{PUBLIC_V6}%lo]:8080/", "Write the host as a name, or as an IP address without"),
        ("http://[fe80::1%25eth0]/", "Write the host as a name, or as an IP address without"),
    ],
)
def test_unusable_urls_are_refused_with_what_to_fix(dns, url, message):
    with pytest.raises(outbound.URLRefusedError) as refused:
        outbound.check_url(url, private_ok=False)

    assert not isinstance(refused.value, outbound.NotPublicError)
    assert refused.value.message.startswith(message)


def test_a_public_name_is_resolved_and_every_address_kept(dns):
    target = outbound.check_url("https://hooks.example.test/services/T0/B1?x=1#frag")

    assert target == outbound.Target(
        scheme="https",
        host="hooks.example.test",
        port=443,
        path="/services/T0/B1?x=1",
        addresses=(PUBLIC_V4, PUBLIC_V6),
    )
    assert outbound.check_url(f"http://[{PUBLIC_V6}]:8080").addresses == (PUBLIC_V6,)
    assert outbound.check_url(f"http://{PUBLIC_V4}/").path == "/"


def test_the_setting_allows_private_destinations_but_never_link_local(dns, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True

    for url in ("http://127.0.0.1:8000/", "http://10.0.0.1/", "http://[::1]/", "http://[fd00::1]/"):
        assert outbound.check_url(url).host
    assert outbound.check_url("http://localhost/").addresses == ("127.0.0.1", "::1")
    assert outbound.check_url("http://internal.example.test/").addresses == ("10.1.2.3",)
    for url in (
        "http://169.254.169.254/",
        "http://metadata.example.test/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:0:a9fe:a9fe]/",  # IPv4-translated 169.254.169.254
        "http://translated.example.test/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of it
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://2852039166/",  # 169.254.169.254 in decimal
    ):
        with pytest.raises(outbound.NotPublicError):
            outbound.check_url(url)

    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.NotPublicError):
        outbound.check_url("http://10.0.0.1/")


def test_a_refused_url_is_refused_before_any_connection(dns, receiver):
    with pytest.raises(outbound.NotPublicError):
        outbound.post(receiver.url(), b"{}", private_ok=False)

    assert receiver.requests == []


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(dns, receiver):
    dns.names["pinned.example.test"] = ["127.0.0.1"]

    response = outbound.post(
        f"http://pinned.example.test:{receiver.port}/hook?a=1",
        b'{"x": 1}',
        {"X-Test": "yes"},
        private_ok=True,
    )

    assert response.status == 200
    assert response.body == b"ok"
    assert dns.lookups == ["pinned.example.test"]  # checked, then connected without asking again
    (request,) = receiver.requests
    assert request.path == "/hook?a=1"
    assert request.headers["Host"] == f"pinned.example.test:{receiver.port}"
    assert request.headers["X-Test"] == "yes"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == b'{"x": 1}'


def test_a_name_that_now_resolves_to_loopback_is_refused_at_connect_time(dns, receiver):
    dns.names["rebind.example.test"] = [PUBLIC_V4]
    url = f"http://rebind.example.test:{receiver.port}/hook"
    outbound.check_url(url, private_ok=False)  # fine when saved
    dns.names["rebind.example.test"] = ["127.0.0.1"]

    with pytest.raises(outbound.NotPublicError):
        outbound.post(url, b"{}", private_ok=False)

    assert receiver.requests == []


def test_a_redirect_is_returned_never_followed(dns):
    server = Receiver(
        answer=lambda path: (302, {"Location": f"http://127.0.0.1:{server.port}/target"}, b"")
    )
    try:
        response = outbound.post(server.url("/start"), b"{}", private_ok=True)
    finally:
        server.close()

    assert response.status == 302
    assert [r.path for r in server.requests] == ["/start"]
    with pytest.raises(outbound.RequestFailedError) as failed:
        response.raise_for_status()
    assert failed.value.reason == "the request failed"
    assert (
        failed.value.detail == "the destination answered with a redirect (HTTP 302), not followed"
    )


def _shown(error):
    """Everything about an error that a caller might show: all of it must be the same
    for every kind of failure, or it tells a closed port from a filtered or open one."""
    return (error.reason, error.message, str(error), error.args)


FAILED_SHOWN = (
    "the request failed",
    "The request failed.",
    "the request failed",
    ("the request failed",),
)


def test_an_error_answer_is_described_in_the_log_detail_only(dns):
    server = Receiver(answer=lambda path: (503, {}, b"db password is hunter2"))
    try:
        response = outbound.post(server.url(), b"{}", private_ok=True)
    finally:
        server.close()

    with pytest.raises(outbound.RequestFailedError) as failed:
        response.raise_for_status()
    assert _shown(failed.value) == FAILED_SHOWN
    assert failed.value.detail == "the destination answered with HTTP 503"


def test_a_closed_port_fails_like_any_other_failure(dns):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(outbound.RequestFailedError) as failed:
        outbound.post(f"http://127.0.0.1:{port}/", b"{}", private_ok=True)

    assert _shown(failed.value) == FAILED_SHOWN
    assert failed.value.detail == "the destination refused the connection"  # for the log
    assert failed.value.__cause__ is None  # the socket's error is logged, not carried along


def test_the_answer_is_read_only_up_to_the_bound(dns):
    server = Receiver(answer=lambda path: (200, {}, b"x" * 1_000_000))
    try:
        response = outbound.post(server.url(), b"{}", private_ok=True, max_response_bytes=1000)
    finally:
        server.close()

    assert response.body == b"x" * 1000
    assert response.truncated


@pytest.fixture
def trickler():
    """Starts a server that answers `head`, then a byte every 50 ms; gives its port."""
    stop = threading.Event()
    listeners = []

    def start(head):
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(head)
                while not stop.is_set():  # a byte at a time, each well inside a socket timeout
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        return
                    time.sleep(0.05)

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1]

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nX-Slow: ",  # trickling a header
        b"HTTP/1.1 200 OK\r\n\r\n",  # trickling the body
    ],
)
def test_a_destination_that_trickles_is_cut_off_at_the_deadline(dns, trickler, head):
    port = trickler(head)
    started = time.monotonic()

    with pytest.raises(outbound.RequestFailedError) as failed:
        outbound.post(f"http://127.0.0.1:{port}/", b"{}", private_ok=True, timeout=1)

    assert time.monotonic() - started < 3
    assert _shown(failed.value) == FAILED_SHOWN
    assert failed.value.detail == "the destination did not answer in time"


# ------------------------------------------------------------------ name lookups


def test_a_name_whose_dns_never_answers_is_refused_at_the_deadline(dns):
    dns.hanging.add("slow.example.test")
    started = time.monotonic()

    with pytest.raises(outbound.NotPublicError) as refused:
        outbound.check_url("http://slow.example.test/hook", private_ok=False, timeout=0.5)

    assert 0.4 < time.monotonic() - started < 2
    assert dns.lookups == ["slow.example.test"]  # asked, and given up on
    assert refused.value.message.startswith(NOT_PUBLIC_MESSAGE)  # the same as a private name


def test_the_lookup_deadline_defaults_to_a_few_seconds(dns, monkeypatch):
    assert outbound.RESOLVE_TIMEOUT <= 5
    monkeypatch.setattr(outbound, "RESOLVE_TIMEOUT", 0.3)
    dns.hanging.add("slow.example.test")
    started = time.monotonic()

    with pytest.raises(outbound.NotPublicError):
        outbound.check_url("https://slow.example.test/", private_ok=True)

    assert time.monotonic() - started < 2


def test_a_request_to_a_name_that_never_resolves_is_refused_within_its_timeout(
    dns, monkeypatch, receiver
):
    monkeypatch.setattr(outbound, "RESOLVE_TIMEOUT", 30)  # the request's own deadline rules
    dns.hanging.add("slow.example.test")
    started = time.monotonic()

    with pytest.raises(outbound.NotPublicError):
        outbound.post(
            f"http://slow.example.test:{receiver.port}/", b"{}", private_ok=True, timeout=1
        )

    assert time.monotonic() - started < 2.5
    assert receiver.requests == []


def test_a_slow_lookup_counts_against_the_requests_deadline(dns, trickler):
    port = trickler(b"HTTP/1.1 200 OK\r\n\r\n")
    dns.names["slowish.example.test"] = ["127.0.0.1"]
    dns.delays["slowish.example.test"] = 1.2
    started = time.monotonic()

    with pytest.raises(outbound.RequestFailedError) as failed:
        outbound.post(f"http://slowish.example.test:{port}/", b"{}", private_ok=True, timeout=2)

    # 1.2 s resolving, then the 0.8 s left: not 1.2 + 2.
    assert time.monotonic() - started < 2.8
    assert failed.value.detail == "the destination did not answer in time"


def test_lookups_that_never_answer_hold_a_bounded_number_of_threads(dns, monkeypatch):
    monkeypatch.setattr(outbound, "_lookup_slots", threading.BoundedSemaphore(1))
    dns.hanging.add("stuck.example.test")

    def lookup_threads():
        return sorted(t.name for t in threading.enumerate() if t.name.startswith("resolve "))

    with pytest.raises(outbound.NotPublicError):
        outbound.check_url("http://stuck.example.test/", private_ok=False, timeout=0.2)
    # The only slot is still held by that lookup: the next one waits, within its own
    # deadline, instead of starting another thread.
    started = time.monotonic()
    with pytest.raises(outbound.NotPublicError):
        outbound.check_url("http://hooks.example.test/", private_ok=False, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert lookup_threads() == ["resolve stuck.example.test"]
    assert dns.lookups == ["stuck.example.test"]

    dns.release.set()  # the resolver gives up at last, freeing the slot
    assert outbound.check_url("http://hooks.example.test/", private_ok=False, timeout=2).addresses


# ------------------------------------------------------------------ TLS


def _certificate(subject, issuer_name, issuer_key, key, *, ca):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def tls_contexts(tmp_path_factory):
    """A server context with a certificate for hooks.example.test, and a client one
    that trusts only the test CA that signed it."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Test CA", "Test CA", ca_key, ca_key, ca=True)
    leaf = _certificate("hooks.example.test", "Test CA", ca_key, key, ca=False)
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


@pytest.fixture
def tls_receiver(tls_contexts):
    server_context = tls_contexts[0]
    names = []
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = Receiver(tls=server_context)
    yield server, names
    server.close()


def test_tls_uses_the_name_for_sni_and_the_certificate_while_connecting_to_the_ip(
    dns, tls_contexts, tls_receiver
):
    server, names = tls_receiver
    dns.names["hooks.example.test"] = ["127.0.0.1"]
    dns.names["other.example.test"] = ["127.0.0.1"]
    context = tls_contexts[1]

    response = outbound.post(
        f"https://hooks.example.test:{server.port}/in", b"{}", private_ok=True, context=context
    )
    assert response.status == 200
    assert names == ["hooks.example.test"]
    assert server.requests[0].headers["Host"] == f"hooks.example.test:{server.port}"

    # Same address, another name: the certificate does not match it, so nothing is sent.
    for url in (
        f"https://other.example.test:{server.port}/in",
        f"https://127.0.0.1:{server.port}/",
    ):
        with pytest.raises(outbound.RequestFailedError) as failed:
            outbound.post(url, b"{}", private_ok=True, context=context)
        assert _shown(failed.value) == FAILED_SHOWN
        assert failed.value.detail.startswith("the secure connection could not be set up: ")
    assert len(server.requests) == 1
