"""Outbound HTTP: the one guard every request to a user-given URL goes through (webhooks, streams).

A request resolves its host once, refuses it unless every address is public (not loopback,
private, link-local, shared, multicast, reserved or documentation space, nor one of those carried
inside an IPv6 address, nor a NAT64 or other IPv4-translating IPv6 address) and then connects to
exactly the address it checked: there is no second lookup for DNS rebinding to answer differently.
The Host header keeps the hostname, and https keeps SNI and the certificate check on the hostname.
Connect and read timeouts, a deadline on the whole exchange, a size cap for bodies read whole;
redirects are followed here, each hop checked again.
No Django import: the stream sources and the benchmark use it alone
(docs/decisions.md, Outbound requests through urllib3 pinned by address).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

__all__ = [
    "OutboundError",
    "OutboundLimits",
    "Response",
    "check_url",
    "fetch",
    "is_public",
    "open_url",
    "resolve",
]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# IPv6 ranges that carry an IPv4 address to a translator Earshot cannot see past: NAT64 (well-known
# and local-use prefixes, RFC 6052/8215), SIIT's IPv4-translated addresses and the deprecated
# IPv4-compatible ones. The translator sits in someone's network and may reach its private side,
# so these are refused whatever IPv4 address they carry.
_TRANSLATED = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
)
# Ranges Python calls global that still reach someone's own network.
_NOT_PUBLIC = (ipaddress.ip_network("192.88.99.0/24"), ipaddress.ip_network("2001:20::/28"))
_MAX_STATUS_LINE = 65536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundError(Exception):
    """A request that was refused or failed, with a reason fit to show the owner of the URL.

    `code` is stable: `bad_url`, `private_address`, `dns`, `connect`, `tls`, `timeout`,
    `too_large`, `redirect_loop`, `too_many_redirects`, `bad_response`, `disconnected`, `closed`.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OutboundLimits:
    """Time and size budgets of one request (redirect hops included)."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # the longest wait for the next byte
    deadline_s: float = 30.0  # connect to last header (open_url) or to last body byte (fetch)
    max_body_bytes: int = 1 << 20
    max_redirects: int = 5


def is_public(ip: IPAddress) -> bool:
    """Return whether an address belongs to the public internet, looking inside IPv6 wrappers."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public(ip.ipv4_mapped)
        if ip.teredo is not None:
            return False
        if ip.sixtofour is not None and not is_public(ip.sixtofour):
            return False
        if any(ip in net for net in _TRANSLATED):
            return False
        if (int(ip) >> 32) & 0xFDFFFFFF == 0x5EFE:  # ISATAP interface id: ::0:5efe:a.b.c.d, ::200:5efe:…
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.is_global and not ip.is_multicast and not any(ip in net for net in _NOT_PUBLIC)


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int
    target: str  # path and query, what goes on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _parse(url: str) -> _Url:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise OutboundError("bad_url", "The URL is not valid.") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise OutboundError("bad_url", "The URL must be an http or https URL with a host.")
    if parts.username or parts.password:
        raise OutboundError("bad_url", "The URL must not carry credentials.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Url(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target)


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """Look the host up once; return the address to connect to, refusing non-public ones."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise OutboundError("dns", f"The host {host} does not resolve.") from None
    addresses = [str(info[4][0]) for info in infos if info[0] in {socket.AF_INET, socket.AF_INET6}]
    if not addresses:
        raise OutboundError("dns", f"The host {host} has no internet address.")
    if not allow_private:
        for address in addresses:
            # Every answer, not just the first: a resolver may rotate them between lookups.
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise OutboundError(
                    "private_address", f"{host} points to a private or loopback address, which Earshot does not call."
                )
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL Earshot would not call: scheme, credentials, and (unless private is allowed) address."""
    parts = _parse(url)
    if not allow_private:
        resolve(parts.host, parts.port, allow_private=False)


class _IcyTolerantResponse(http.client.HTTPResponse):
    """http.client's response, also reading SHOUTcast v1's `ICY 200 OK` status line as HTTP/1.0."""

    def _read_status(self):  # type: ignore[no-untyped-def]
        if self.fp.peek(4)[:4] != b"ICY ":
            return super()._read_status()  # type: ignore[misc]
        line = self.fp.readline(_MAX_STATUS_LINE + 1)
        parts = line.split(None, 2)
        if len(line) > _MAX_STATUS_LINE or len(parts) < 2 or not parts[1].isdigit():
            raise http.client.BadStatusLine(line[:80].decode("latin-1"))
        return "HTTP/1.0", int(parts[1]), parts[2].decode("latin-1").strip() if len(parts) > 2 else ""


class _PinnedHTTPConnection(HTTPConnection):
    response_class = _IcyTolerantResponse


class _PinnedHTTPSConnection(HTTPSConnection):
    response_class = _IcyTolerantResponse


class Response:
    """One response whose body is read here: in pieces for endless streams, or whole by `fetch`.

    `close()` may be called from any thread: it unblocks a `read()` waiting on the network.
    """

    def __init__(self, *, url: str, address: str, raw: urllib3.BaseHTTPResponse, connection, watchdog: _Watchdog):
        self.url = url
        self.address = address
        self.status = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self.content = b""
        self._raw = raw
        self._connection = connection
        self._watchdog = watchdog
        self._closed = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def end_deadline(self) -> None:
        """Stop the total deadline: the caller reads an endless body under the read timeout alone."""
        self._watchdog.cancel()

    def read(self, max_bytes: int = 65536) -> bytes:
        """Return the next bytes that arrived (at most `max_bytes`), b"" at the end of the body."""
        try:
            data = self._raw.read1(max_bytes, decode_content=False)
        except Exception as error:
            raise self._failure(error) from None
        if not data and (self._closed or self._watchdog.fired):
            raise self._failure(EOFError())
        return data

    def read_all(self, max_bytes: int) -> bytes:
        """Read the whole body, refusing one longer than `max_bytes` without holding more of it."""
        declared = self.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise OutboundError("too_large", f"The response is larger than {max_bytes // 1024} KiB.")
        parts: list[bytes] = []
        size = 0
        while chunk := self.read(min(65536, max_bytes + 1 - size)):
            parts.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError("too_large", f"The response is larger than {max_bytes // 1024} KiB.")
        return b"".join(parts)

    def close(self) -> None:
        """Drop the connection; safe from another thread."""
        self._closed = True
        self._watchdog.cancel()
        _shutdown(self._watchdog.sock)
        for release in (self._raw.close, self._connection.close):  # the socket's file too, not just shut
            with contextlib.suppress(Exception):
                release()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failure(self, error: BaseException) -> OutboundError:
        if self._closed:
            return OutboundError("closed", "The connection was closed.")
        if self._watchdog.passed:
            return OutboundError("timeout", "The server took too long to answer.")
        return _as_outbound(error)


class _Watchdog:
    """Shut a connection's socket down when the request's deadline passes (a drip-fed answer)."""

    def __init__(self, seconds: float):
        self.fired = False
        self.deadline = time.monotonic() + max(seconds, 0.0)
        self.sock: socket.socket | None = None  # set once connected (http.client may drop its own reference)
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        _shutdown(self.sock)

    def cancel(self) -> None:
        self._timer.cancel()

    @property
    def passed(self) -> bool:
        """Whether the deadline has passed: a read timeout that ends as the deadline does (the two
        are often equal) is the deadline's failure, whichever timer woke first."""
        return self.fired or time.monotonic() >= self.deadline


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _as_outbound(error: BaseException) -> OutboundError:
    text = str(error)
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return OutboundError("connect", "The server could not be reached.")
    if isinstance(error, urllib3.exceptions.ConnectTimeoutError):
        return OutboundError("timeout", "The server did not accept the connection in time.")
    if isinstance(error, TimeoutError | urllib3.exceptions.ReadTimeoutError) or "timed out" in text:
        return OutboundError("timeout", "The server stopped sending.")
    if isinstance(error, ssl.SSLError | ssl.CertificateError | HostnameMismatch | urllib3.exceptions.SSLError):
        return OutboundError("tls", "The server's TLS certificate could not be verified.")
    if isinstance(error, http.client.HTTPException) or "header" in text.lower() or "chunk" in text.lower():
        return OutboundError("bad_response", "The server's answer is not valid HTTP (or too long to read).")
    return OutboundError("disconnected", "The connection was lost.")


def _send(
    url: str, *, method: str, body: bytes | None, headers: Mapping[str, str], allow_private: bool,
    limits: OutboundLimits, deadline: float,
) -> Response:  # fmt: skip
    parts = _parse(url)
    address = resolve(parts.host, parts.port, allow_private=allow_private)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OutboundError("timeout", "The server took too long to answer.")
    timeout = min(limits.connect_timeout_s, remaining)
    connection: HTTPConnection
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(
            address, parts.port, timeout=timeout, server_hostname=parts.host, assert_hostname=parts.host,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
        )  # fmt: skip
    else:
        connection = _PinnedHTTPConnection(address, parts.port, timeout=timeout)
    watchdog = _Watchdog(remaining)
    sent = {"User-Agent": "Earshot/1", "Accept-Encoding": "identity", **headers, "Host": parts.host_header}
    try:
        connection.connect()
        watchdog.sock = connection.sock
        if watchdog.fired:
            raise OutboundError("timeout", "The server took too long to answer.")
        connection.request(method, parts.target, body=body, headers=sent, preload_content=False, decode_content=False)
        connection.timeout = limits.read_timeout_s  # getresponse puts it on the socket for every read
        raw = connection.getresponse()
    except Exception as error:
        watchdog.cancel()
        with contextlib.suppress(Exception):
            connection.close()
        if watchdog.passed:
            raise OutboundError("timeout", "The server took too long to answer.") from None
        if isinstance(error, OutboundError):
            raise
        raise _as_outbound(error) from None
    response = Response(url=url, address=address, raw=raw, connection=connection, watchdog=watchdog)
    if watchdog.fired:  # the headers were cut short by the deadline, not ended by the server
        response.close()
        raise OutboundError("timeout", "The server took too long to answer.")
    return response


def open_url(
    url: str, *, allow_private: bool, method: str = "GET", body: bytes | None = None,
    headers: Mapping[str, str] | None = None, limits: OutboundLimits = OutboundLimits(),
    follow_redirects: bool = True,
) -> Response:  # fmt: skip
    """Send a request and return once the response headers are in; the caller reads and closes it.

    The deadline runs on until `Response.end_deadline()` or `close()`.
    """
    deadline = time.monotonic() + limits.deadline_s
    seen = {url}
    for hop in range(limits.max_redirects + 1):
        response = _send(
            url, method=method, body=body, headers=headers or {}, allow_private=allow_private, limits=limits,
            deadline=deadline,
        )  # fmt: skip
        location = response.headers.get("location")
        if not follow_redirects or response.status not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        url = urljoin(url, location.strip())
        if url in seen:
            raise OutboundError("redirect_loop", "The URL redirects in a loop.")
        if hop == limits.max_redirects:
            raise OutboundError("too_many_redirects", f"The URL redirects more than {limits.max_redirects} times.")
        seen.add(url)
        if response.status == 303 or (response.status in {301, 302} and method == "POST"):
            method, body = "GET", None
    raise AssertionError("unreachable")  # pragma: no cover


def fetch(
    url: str, *, allow_private: bool, method: str = "GET", body: bytes | None = None,
    headers: Mapping[str, str] | None = None, limits: OutboundLimits = OutboundLimits(),
    follow_redirects: bool = True,
) -> Response:  # fmt: skip
    """Send a request and read its whole body (at most `limits.max_body_bytes`) within the deadline."""
    with open_url(
        url, allow_private=allow_private, method=method, body=body, headers=headers, limits=limits,
        follow_redirects=follow_redirects,
    ) as response:  # fmt: skip
        response.content = response.read_all(limits.max_body_bytes)
    return response
