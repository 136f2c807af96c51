"""ASGI middleware in front of Django: request-body size limits.

Django's ASGI handler reads (and spools to disk) the whole body before any view runs, so a size
check in a view comes too late for a 1 GiB upload. This middleware refuses a body whose
Content-Length is over the limit before reading a byte of it, and stops a body without one
(chunked) as soon as it passes the limit: at most one chunk beyond the limit is ever read.
Only a request with a credential gets the upload paths' large limit (portal.bodies).
"""

from __future__ import annotations

import json

from django.conf import settings

from portal.bodies import LargeBodySlots, allowance, refusal

__all__ = ["BodySizeLimit", "LoadShedder", "OpsAnyHost"]

OPS_PATHS = ("/healthz", "/readyz", "/metrics")


class OpsAnyHost:
    """Let probes and Prometheus reach the ops endpoints by pod IP.

    They send the pod's address as Host, which ALLOWED_HOSTS rightly refuses; for these three
    paths only, the Host is replaced by the first allowed host before Django sees the request.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") in OPS_PATHS and settings.ALLOWED_HOSTS:
            host = settings.ALLOWED_HOSTS[0].lstrip(".").replace("*", "localhost").encode()
            headers = [(name, value) for name, value in scope.get("headers", []) if name != b"host"]
            scope = {**scope, "headers": [*headers, (b"host", host)]}
        return await self.app(scope, receive, send)


class BodySizeLimit:
    """Answer 413 to HTTP requests whose body is larger than the limit for their path.

    The upload paths' large limit needs a credential (401 without one) and one of the process's
    large-body slots (503 when none is free); portal.bodies decides both.
    """

    def __init__(self, app):
        self.app = app
        self.slots = LargeBodySlots()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        allowed = allowance(scope.get("path", ""), scope.get("headers", []))
        limit, small = allowed.limit, settings.EARSHOT_MAX_BODY_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(send, allowed.status, limit)
        holding = False  # one of the large-body slots
        if allowed.large and declared is not None and declared > small:
            if not self.slots.take():
                return await _refuse(send, 503, limit)
            holding = True

        received = 0
        refused = False  # we answered ourselves
        started = False  # a response has begun (ours or the app's)

        async def limited_receive():
            nonlocal received, refused, started, holding
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                status = allowed.status if received > limit else None
                if status is None and allowed.large and received > small and not holding:
                    if self.slots.take():
                        holding = True
                    else:
                        status = 503
                if status is not None:
                    if not started:
                        refused = started = True
                        await _refuse(send, status, limit)
                    # Django sees the client go away and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return  # our answer is already out; nothing of the app's may follow it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            return await self.app(scope, limited_receive, guarded_send)
        finally:
            if holding:
                self.slots.release()


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send, status: int, limit: int) -> None:
    body, headers = refusal(status, limit)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LoadShedder:
    """Refuse heavy requests at once (503 + Retry-After) when too many are already in this process.

    Django runs a process's synchronous views one at a time, so past capacity requests would only
    queue, each waiting longer than the last, until everything times out. Beyond
    EARSHOT_MAX_QUEUED_HEAVY requests on the heavy paths (recognitions, uploads), new ones are
    answered in microseconds and the client retries; health checks and pages are never held up.
    """

    HEAVY_METHODS = {"POST", "PUT"}

    def __init__(self, app):
        self.app = app
        self.in_flight = 0

    async def __call__(self, scope, receive, send):
        heavy = (
            scope["type"] == "http"
            and scope.get("method") in self.HEAVY_METHODS
            and scope.get("path", "").startswith(tuple(settings.EARSHOT_UPLOAD_PATHS))
        )
        if not heavy:
            return await self.app(scope, receive, send)
        if self.in_flight >= settings.EARSHOT_MAX_QUEUED_HEAVY:
            return await _busy(send)
        self.in_flight += 1
        answered = False

        async def counted_send(message):
            # A request leaves the count as its answer's last bytes go out, not when the app
            # returns after them: by then its client may have sent its next request, which
            # would be shed as a ninth of eight.
            nonlocal answered
            if not answered and message["type"] == "http.response.body" and not message.get("more_body"):
                answered = True
                self.in_flight -= 1
            await send(message)

        try:
            return await self.app(scope, receive, counted_send)
        finally:
            if not answered:
                self.in_flight -= 1


async def _busy(send) -> None:
    body = json.dumps({"error": {"code": "busy", "message": "Earshot is busy; retry in a second."}}).encode()
    await send({
        "type": "http.response.start",
        "status": 503,
        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                    (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
