"""Who may send a large request body, and how many at once.

The upload paths (EARSHOT_UPLOAD_PATHS) accept bodies up to EARSHOT_MAX_UPLOAD_BYTES, every other
request up to EARSHOT_MAX_BODY_BYTES. The large allowance costs the server a spooled file and, in
Daphne, the whole body in memory, all before Django has authenticated anyone; so it goes only to a
request that carries a credential of the right shape (the session cookie or an `Api-Key`
Authorization header), and only EARSHOT_MAX_LARGE_BODIES of them at a time per process.

The shape is checked, not the credential itself: the check runs where the headers arrive (in
Twisted's reactor, which must not wait for the database). A forged but well-formed credential gets
through to Django, which refuses it; the per-process cap bounds what such requests can hold.
Both the Daphne hook (portal/daphne_body_limit.py) and the ASGI middleware (portal/middleware.py)
decide with `allowance()`, so they agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.http.cookie import parse_cookie

__all__ = ["Allowance", "LargeBodySlots", "allowance", "has_credential", "refusal"]

# Django's session keys are 32 characters from [a-z0-9] (SessionBase._get_new_session_key);
# djangorestframework-api-key's keys are an 8-character prefix, a dot and a 32-character secret.
SESSION_KEY = re.compile(r"[a-z0-9]{32}")
API_KEY = re.compile(rb"Api-Key +[A-Za-z0-9]{8}\.[A-Za-z0-9]{32} *")

Headers = Iterable[tuple[bytes, bytes]]


@dataclass(frozen=True)
class Allowance:
    """The body limit for one request, and the answer a body past it gets (401 or 413)."""

    limit: int
    large: bool  # the limit is the upload allowance, which takes one of the process's slots
    status: int  # 401: a credential would have raised the limit; 413: no request may send more


def has_credential(headers: Headers) -> bool:
    """Return whether the headers carry a session cookie or an API key of the right shape."""
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == b"authorization" and API_KEY.fullmatch(value):
            return True
        if name == b"cookie":
            session = parse_cookie(value.decode("latin-1")).get(settings.SESSION_COOKIE_NAME, "")
            if SESSION_KEY.fullmatch(session):
                return True
    return False


# Paths under an upload path that take small bodies all the same: a track's artwork is at most
# 4 MiB (catalog.artwork), so a credential must not buy it the upload allowance and a slot.
SMALL_UNDER_UPLOAD_PATHS = ("/artwork",)


def allowance(path: str, headers: Headers) -> Allowance:
    """Return the body allowance for a request to `path` with these headers."""
    small = settings.EARSHOT_MAX_BODY_BYTES
    if not path.startswith(tuple(settings.EARSHOT_UPLOAD_PATHS)) or path.rstrip("/").endswith(SMALL_UNDER_UPLOAD_PATHS):
        return Allowance(small, large=False, status=413)
    if not has_credential(headers):
        return Allowance(small, large=False, status=401)
    return Allowance(settings.EARSHOT_MAX_UPLOAD_BYTES, large=True, status=413)


class LargeBodySlots:
    """A count of the large bodies one process is receiving, capped at EARSHOT_MAX_LARGE_BODIES.

    A body is large once it is (or is declared to be) over EARSHOT_MAX_BODY_BYTES; its slot is held
    until its request has been answered, because that long its bytes are kept in memory or on disk.
    """

    def __init__(self) -> None:
        self.in_use = 0

    def take(self) -> bool:
        """Take a slot; return False (taking none) when all are in use."""
        if self.in_use >= settings.EARSHOT_MAX_LARGE_BODIES:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1


def refusal(status: int, limit: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Return the JSON body and the headers of a refusal with this status (401, 413 or 503)."""
    mib = f"{limit / 1024 / 1024:.0f} MiB"
    if status == 401:
        code, message = "not_authenticated", f"Sign in or send an API key to upload more than {mib}."
        extra = [(b"www-authenticate", b"Api-Key")]
    elif status == 503:
        code, message = "busy", "Too many large uploads at once; retry in a few seconds."
        extra = [(b"retry-after", b"5")]
    else:
        code, message = "too_large", f"The request body is larger than the limit of {mib}."
        extra = []
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *extra]  # fmt: skip
    return body, headers
