"""Request-body limits where Daphne receives the bytes.

Daphne (through Twisted) reads a request's whole body into a buffer before it calls the ASGI
application, then queues all of it in memory at once. The ASGI `BodySizeLimit` therefore sees a
1 GiB upload only after Daphne has held all of it in memory (`bench/abuse.py` sends such a
flood). This hook counts body bytes as Twisted hands them over. A declared length over the
path's limit is refused before any byte of the body is read; a body without one is cut off at
the first chunk past the limit. Either way the answer is 413 and the connection is closed, so
nothing more is read or kept. Twisted's own parse of form bodies, which Daphne never reads, is
turned off.

The upload paths' large allowance is decided here too, from the headers, before the first byte of
the body (portal.bodies): without a session cookie or API key of the right shape a request gets the
small limit and a 401 past it; with one, it needs one of the process's large-body slots, held until
the request is answered or its connection lost, and gets 503 when none is free.

`install()` patches Daphne's request class once, when `portal.asgi` is imported by Daphne.
"""

from __future__ import annotations

from django.conf import settings

from portal.bodies import LargeBodySlots, allowance, refusal

__all__ = ["install"]


def _path(request) -> str:
    # Twisted keeps the request line on the channel until the body is complete.
    raw = getattr(request.channel, "_path", b"") or b""
    return raw.split(b"?", 1)[0].decode("latin-1")


def _headers(request) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, values in request.requestHeaders.getAllRawHeaders() for value in values]


def _refuse(request, status: int, limit: int) -> None:
    request._earshot_refused = True
    _release(request)
    body, headers = refusal(status, limit)
    reason = {401: b"Unauthorized", 413: b"Payload Too Large", 503: b"Service Unavailable"}[status]
    transport = request.channel.transport
    transport.write(
        b"HTTP/1.1 %d %s\r\n" % (status, reason)
        + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        + b"\r\n"
        + body
    )
    transport.loseConnection()


def _take(request) -> bool:
    """Take a large-body slot for `request`; False when the process has none free."""
    if not _slots.take():
        return False
    request._earshot_holding = True
    return True


def _release(request) -> None:
    if getattr(request, "_earshot_holding", False):
        request._earshot_holding = False
        _slots.release()


_slots = LargeBodySlots()  # this process's large bodies in flight


def install() -> None:
    """Make Daphne refuse oversized and unauthenticated large bodies as they arrive (idempotent)."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_earshot_body_limit", False):
        return
    got_length, handle_chunk, process = WebRequest.gotLength, WebRequest.handleContentChunk, WebRequest.process
    finish, connection_lost = WebRequest.finish, WebRequest.connectionLost

    def gotLength(self, length):
        # Daphne hands Django the raw body. Twisted would also parse a form or multipart body into
        # `request.args`, which nothing reads: CPU in the reactor's thread (~1.5 ms for a 5 s clip)
        # and a second copy of an upload in memory.
        self._parsePOSTFormSubmission = False
        allowed = allowance(_path(self), _headers(self))
        self._earshot_allowance = allowed
        self._earshot_received = 0
        self._earshot_refused = False
        self._earshot_holding = False
        got_length(self, length)
        if length is not None and length > allowed.limit:
            _refuse(self, allowed.status, allowed.limit)
        elif allowed.large and length is not None and length > settings.EARSHOT_MAX_BODY_BYTES and not _take(self):
            _refuse(self, 503, allowed.limit)

    def handleContentChunk(self, data):
        if self._earshot_refused:
            return
        allowed = self._earshot_allowance
        self._earshot_received += len(data)
        if self._earshot_received > allowed.limit:
            _refuse(self, allowed.status, allowed.limit)
            return
        if (allowed.large and self._earshot_received > settings.EARSHOT_MAX_BODY_BYTES
                and not self._earshot_holding and not _take(self)):  # fmt: skip
            _refuse(self, 503, allowed.limit)
            return
        handle_chunk(self, data)

    def process_unless_refused(self):
        if getattr(self, "_earshot_refused", False):
            return None
        return process(self)

    def finish_and_release(self):
        _release(self)
        return finish(self)

    def connection_lost_and_release(self, reason):
        _release(self)
        return connection_lost(self, reason)

    WebRequest.gotLength = gotLength
    WebRequest.handleContentChunk = handleContentChunk
    WebRequest.process = process_unless_refused
    WebRequest.finish = finish_and_release
    WebRequest.connectionLost = connection_lost_and_release
    WebRequest._earshot_body_limit = True
