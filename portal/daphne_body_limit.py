"""Request-body limits where Daphne receives the bytes.

Daphne (through Twisted) reads a request's whole body into a buffer before it calls the ASGI
application, then queues all of it in memory at once. The ASGI `BodySizeLimit` therefore sees a
1 GiB upload only after Daphne has held all of it in memory (`bench/abuse.py` sends such a
flood). This hook counts body bytes as Twisted hands them over. A declared length over the
path's limit is refused before any byte of the body is read; a body without one is cut off at
the first chunk past the limit. Either way the answer is 413 and the connection is closed, so
nothing more is read or kept.

`install()` patches Daphne's request class once, when `portal.asgi` is imported by Daphne.
"""

from __future__ import annotations

__all__ = ["install"]


def _path(request) -> str:
    # Twisted keeps the request line on the channel until the body is complete.
    raw = getattr(request.channel, "_path", b"") or b""
    return raw.split(b"?", 1)[0].decode("latin-1")


def _refuse(request, limit: int) -> None:
    from portal.middleware import too_large_body

    request._earshot_refused = True
    body = too_large_body(limit)
    transport = request.channel.transport
    transport.write(
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    transport.loseConnection()


def install() -> None:
    """Make Daphne refuse oversized bodies as they arrive (idempotent)."""
    from daphne.http_protocol import WebRequest

    from portal.middleware import BodySizeLimit

    if getattr(WebRequest, "_earshot_body_limit", False):
        return
    got_length, handle_chunk, process = WebRequest.gotLength, WebRequest.handleContentChunk, WebRequest.process

    def gotLength(self, length):
        self._earshot_limit = BodySizeLimit.limit_for(_path(self))
        self._earshot_received = 0
        self._earshot_refused = False
        got_length(self, length)
        if length is not None and length > self._earshot_limit:
            _refuse(self, self._earshot_limit)

    def handleContentChunk(self, data):
        if self._earshot_refused:
            return
        self._earshot_received += len(data)
        if self._earshot_received > self._earshot_limit:
            _refuse(self, self._earshot_limit)
            return
        handle_chunk(self, data)

    def process_unless_refused(self):
        if getattr(self, "_earshot_refused", False):
            return None
        return process(self)

    WebRequest.gotLength = gotLength
    WebRequest.handleContentChunk = handleContentChunk
    WebRequest.process = process_unless_refused
    WebRequest._earshot_body_limit = True
