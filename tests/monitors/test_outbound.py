"""portal.outbound (G25): one lookup, the checked address pinned, no private hosts, deadlines and caps.

Real sockets on loopback. Where a test needs a "public" server, the server listens on 127.0.0.3 and
the test declares that one address public (`is_public` is what a monkeypatch changes, the network
code is untouched); the loopback canary on 127.0.0.1 must never be hit.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
import time

import pytest
import requests

from bench.streams import CanaryServer
from portal import outbound

PUBLIC_STANDIN = "127.0.0.3"


class _Server:
    """A tiny loopback HTTP server whose handler is a function of (handler) -> None."""

    def __init__(self, respond, host: str = PUBLIC_STANDIN, tls: ssl.SSLContext | None = None):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                respond(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # clients hanging up is the point here
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _ok(handler, body: bytes = b"public", status: int = 200, headers: dict | None = None):
    handler.send_response(status)
    for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def canary():
    with CanaryServer() as server:
        yield server


@pytest.fixture
def standin_public(monkeypatch):
    """Declare 127.0.0.3 a public address (and nothing else new)."""
    real = outbound.is_public
    monkeypatch.setattr(outbound, "is_public", lambda ip: str(ip) == PUBLIC_STANDIN or real(ip))


@pytest.fixture
def resolver(monkeypatch):
    """Fake DNS for names under .test: each name answers a list of addresses in turn (the last repeats)."""
    real = socket.getaddrinfo
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            lookups.append(host)
            queue = answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            return real(address, port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("127.0.0.1", False), ("10.1.2.3", False),
        ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
        ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False), ("255.255.255.255", False),  # noqa: S104
        ("192.0.2.1", False), ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False),
        ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False), ("::ffff:8.8.8.8", True),
        ("64:ff9b::7f00:1", False), ("2002:7f00:1::", False), ("2001::1", False),
        # NAT64 (well-known and local-use prefixes) and other IPv4 translations: refused even when
        # the IPv4 inside is public, the translator may reach its own private side.
        ("64:ff9b::808:808", False), ("64:ff9b::a00:5", False), ("64:ff9b:1::808:808", False),
        ("64:ff9b:1:7f00:0:100::", False), ("::ffff:0:7f00:1", False), ("::ffff:0:808:808", False),
        ("::7f00:1", False), ("::a00:5", False), ("::808:808", False),
        # ISATAP interface ids carry an IPv4 address too.
        ("2606:4700::5efe:7f00:1", False), ("2606:4700::200:5efe:a00:5", False),
        ("2606:4700::5efe:808:808", True), ("2002:808:808::1", True),
    ],
)  # fmt: skip
def test_only_public_addresses_are_public(address, public):
    assert outbound.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1"])
def test_loopback_hosts_are_refused_before_any_connection(canary, host):
    url = f"http://{host}:{canary.port}/hook"
    with pytest.raises(outbound.OutboundError) as refused:
        outbound.fetch(url, allow_private=False)
    assert refused.value.code == "private_address"
    with pytest.raises(outbound.OutboundError):
        outbound.check_url(url, allow_private=False)
    assert canary.total_hits == 0
    assert outbound.fetch(f"http://127.0.0.1:{canary.port}/", allow_private=True).content == b"canary"


def test_private_network_hosts_are_refused_without_waiting():
    started = time.monotonic()
    for url in ("http://10.0.0.1/", "http://192.168.0.10:8000/", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(outbound.OutboundError) as refused:
            outbound.fetch(url, allow_private=False)
        assert refused.value.code == "private_address"
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "http://user:pw@example.com/", "http://"])
def test_urls_that_are_not_plain_http_are_refused(url):
    with pytest.raises(outbound.OutboundError) as refused:
        outbound.check_url(url, allow_private=True)
    assert refused.value.code == "bad_url"


def test_rebinding_host_is_connected_at_the_checked_address_only(canary, standin_public, resolver):
    """DNS answers public first, 127.0.0.1 after: the guard looks up once and connects there."""
    server = _Server(lambda h: _ok(h, b"public " + h.headers["Host"].encode()))
    answers, lookups = resolver
    try:
        answers["radio.rebind.test"] = [PUBLIC_STANDIN, "127.0.0.1"]
        response = outbound.fetch(f"http://radio.rebind.test:{server.port}/", allow_private=False)
        assert response.content == f"public radio.rebind.test:{server.port}".encode()  # Host header kept
        assert response.address == PUBLIC_STANDIN and lookups == ["radio.rebind.test"]
        # The next request looks up again and is refused: the name now points at loopback.
        with pytest.raises(outbound.OutboundError) as refused:
            outbound.fetch(f"http://radio.rebind.test:{canary.port}/", allow_private=False)
        assert refused.value.code == "private_address" and canary.total_hits == 0

        # Control: checking then letting an ordinary client resolve again lands on the canary.
        answers["old.rebind.test"] = [PUBLIC_STANDIN, "127.0.0.1"]
        outbound.check_url(f"http://old.rebind.test:{canary.port}/", allow_private=False)
        assert requests.get(f"http://old.rebind.test:{canary.port}/", timeout=5).text == "canary"
        assert canary.total_hits == 1
    finally:
        server.close()


def test_a_redirect_hop_to_loopback_is_refused(canary, standin_public):
    server = _Server(lambda h: _ok(h, b"", 302, {"Location": f"http://127.0.0.1:{canary.port}/internal"}))
    try:
        with pytest.raises(outbound.OutboundError) as refused:
            outbound.fetch(f"http://{PUBLIC_STANDIN}:{server.port}/", allow_private=False)
        assert refused.value.code == "private_address" and canary.total_hits == 0
    finally:
        server.close()


def test_redirect_loops_and_long_chains_end_with_a_clear_error():
    def respond(h):
        step = int(h.path.strip("/") or 0)
        target = "/0" if h.path.startswith("/loop") else f"/{step + 1}"
        _ok(h, b"", 302, {"Location": target if not h.path.startswith("/loop") else "/loop-again"})

    def loop(h):
        if h.path.startswith("/loop"):
            _ok(h, b"", 301, {"Location": "/loop-b" if h.path == "/loop-a" else "/loop-a"})
        else:
            respond(h)

    server = _Server(loop, host="127.0.0.1")
    try:
        with pytest.raises(outbound.OutboundError) as looped:
            outbound.fetch(f"http://127.0.0.1:{server.port}/loop-a", allow_private=True)
        assert looped.value.code == "redirect_loop" and "loop" in looped.value.message
        with pytest.raises(outbound.OutboundError) as chained:
            outbound.fetch(f"http://127.0.0.1:{server.port}/0", allow_private=True)
        assert chained.value.code == "too_many_redirects" and "5" in chained.value.message
        limits = outbound.OutboundLimits(max_redirects=10)
        with pytest.raises(outbound.OutboundError):
            outbound.fetch(f"http://127.0.0.1:{server.port}/0", allow_private=True, limits=limits)
    finally:
        server.close()


def test_bodies_over_the_cap_are_refused_with_or_without_a_length():
    def respond(h):
        h.send_response(200)
        if h.path == "/declared":
            h.send_header("Content-Length", str(1 << 30))
        h.end_headers()
        chunk = b"x" * 65536
        for _ in range(1 << 14):  # up to 1 GiB, unless the client hangs up
            h.wfile.write(chunk)

    server = _Server(respond, host="127.0.0.1")
    limits = outbound.OutboundLimits(max_body_bytes=256 * 1024)
    try:
        for path in ("/declared", "/endless"):
            started = time.monotonic()
            with pytest.raises(outbound.OutboundError) as refused:
                outbound.fetch(f"http://127.0.0.1:{server.port}{path}", allow_private=True, limits=limits)
            assert refused.value.code == "too_large" and time.monotonic() - started < 2
    finally:
        server.close()


def test_the_deadline_ends_a_drip_fed_answer():
    def drip(h):
        h.wfile.write(b"HTTP/1.0 200 OK\r\n")
        if h.path == "/body":
            h.wfile.write(b"Content-Length: 1000\r\n\r\n")
        for _ in range(100):  # one byte every 0.2 s: never a read timeout
            time.sleep(0.2)
            h.wfile.write(b"X" if h.path == "/body" else b"X-Drip: 1\r\n")

    server = _Server(drip, host="127.0.0.1")
    limits = outbound.OutboundLimits(read_timeout_s=1, deadline_s=1.5)
    try:
        for path in ("/headers", "/body"):
            started = time.monotonic()
            with pytest.raises(outbound.OutboundError) as late:
                outbound.fetch(f"http://127.0.0.1:{server.port}{path}", allow_private=True, limits=limits)
            assert late.value.code == "timeout" and 1.4 < time.monotonic() - started < 3
    finally:
        server.close()


def test_a_stream_read_times_out_and_close_unblocks_it_from_another_thread():
    def silent(h):
        h.send_response(200)
        h.end_headers()
        time.sleep(10)

    server = _Server(silent, host="127.0.0.1")
    try:
        limits = outbound.OutboundLimits(read_timeout_s=0.5)
        with outbound.open_url(f"http://127.0.0.1:{server.port}/", allow_private=True, limits=limits) as response:
            response.end_deadline()
            with pytest.raises(outbound.OutboundError) as idle:
                response.read()
            assert idle.value.code == "timeout"
        slow = outbound.OutboundLimits(read_timeout_s=30)
        response = outbound.open_url(f"http://127.0.0.1:{server.port}/", allow_private=True, limits=slow)
        threading.Timer(0.3, response.close).start()
        started = time.monotonic()
        with pytest.raises(outbound.OutboundError) as closed:
            response.read()
        assert closed.value.code == "closed" and time.monotonic() - started < 1.5
    finally:
        server.close()


def test_shoutcast_icy_status_lines_are_read():
    def icy(h):
        h.wfile.write(b"ICY 200 OK\r\nicy-name: old server\r\nContent-Type: audio/mpeg\r\n\r\nAUDIO")

    server = _Server(icy, host="127.0.0.1")
    try:
        response = outbound.fetch(f"http://127.0.0.1:{server.port}/", allow_private=True)
        assert response.status == 200 and response.content_type == "audio/mpeg" and response.content == b"AUDIO"
    finally:
        server.close()


def _certificate(tmp_path, name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_keeps_sni_and_the_certificate_check_on_the_hostname(tmp_path, resolver, monkeypatch):
    import certifi

    cert_path, key_path = _certificate(tmp_path, "radio.tls.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server = _Server(lambda h: _ok(h, b"secure"), host="127.0.0.1", tls=context)
    answers, _ = resolver
    answers["radio.tls.test"] = ["127.0.0.1"]
    answers["other.tls.test"] = ["127.0.0.1"]
    try:
        with pytest.raises(outbound.OutboundError) as untrusted:  # a self-signed certificate: refused
            outbound.fetch(f"https://radio.tls.test:{server.port}/", allow_private=True)
        assert untrusted.value.code == "tls" and names == ["radio.tls.test"]
        monkeypatch.setattr(certifi, "where", lambda: str(cert_path))  # now trust it
        response = outbound.fetch(f"https://radio.tls.test:{server.port}/", allow_private=True)
        assert response.content == b"secure" and response.address == "127.0.0.1"
        with pytest.raises(outbound.OutboundError) as wrong_name:  # trusted, but for another name
            outbound.fetch(f"https://other.tls.test:{server.port}/", allow_private=True)
        assert wrong_name.value.code == "tls" and names[-1] == "other.tls.test"
    finally:
        server.close()


@pytest.mark.django_db
def test_webhook_deliveries_go_through_the_guard(settings, canary, standin_public, resolver, make_user):
    """A webhook whose name rebinds to loopback after registration is not called there."""
    from recognition.models import Recognition, WebhookDelivery
    from recognition.services.webhooks import webhook_create, webhook_deliver

    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = False
    answers, _ = resolver
    answers["hooks.rebind.test"] = [PUBLIC_STANDIN, "127.0.0.1"]
    user = make_user()
    webhook, _ = webhook_create(user=user, url=f"http://hooks.rebind.test:{canary.port}/hook")
    job = Recognition.objects.create(user=user, status=Recognition.Status.DONE)
    delivery = WebhookDelivery.objects.create(webhook=webhook, recognition=job)
    assert webhook_deliver(delivery.pk) == "pending"
    delivery.refresh_from_db()
    assert "public host" in delivery.last_error or "private" in delivery.last_error
    assert canary.total_hits == 0
