"""The upload paths' large body allowance needs a credential and a free slot (G7, G26)."""

import asyncio
import threading
import time

import pytest

from portal.bodies import has_credential
from tests.test_body_limit import (
    API_KEY,
    CHUNK,
    LIMIT,
    _call,
    _rss_mb,
    _scope,
    _stream_until_answered,
    _without_waiting,
)

SESSION_KEY = "0123456789abcdefghijklmnopqrstuv"  # the shape of Django's session keys


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.EARSHOT_MAX_UPLOAD_BYTES = LIMIT
    settings.EARSHOT_MAX_BODY_BYTES = 64 * 1024


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (API_KEY, True),
        ((b"Authorization", API_KEY[1]), True),
        ((b"cookie", f"csrftoken=x; sessionid={SESSION_KEY}".encode()), True),
        ((b"authorization", b"Api-Key short.key"), False),
        ((b"authorization", b"Bearer abcdEFGH." + b"k" * 32), False),
        ((b"cookie", b"sessionid=../../etc"), False),
        ((b"cookie", b"csrftoken=" + SESSION_KEY.encode()), False),
        ((b"x-session", SESSION_KEY.encode()), False),
    ],
)
def test_credential_shapes(header, expected):
    assert has_credential([(b"host", b"x"), header]) is expected


def test_an_anonymous_large_upload_is_refused_with_401_before_reading_it():
    scope = _scope("/api/v1/recognitions", [(b"content-length", str(150 * 10**6).encode())])
    status, read = asyncio.run(_call(scope, 150 * 10**6))
    assert status == 401 and read == 0


def test_an_anonymous_chunked_upload_is_cut_off_at_the_small_limit():
    status, read = asyncio.run(_call(_scope("/uploads/new/"), 1024**3))
    assert status == 401
    assert read <= 64 * 1024 + CHUNK


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("credential", [API_KEY, (b"cookie", f"sessionid={SESSION_KEY}".encode())])
def test_a_credential_gets_the_large_allowance(credential):
    # 200 KB is over the small limit and under the large one: all of it reaches Django, which
    # then refuses the made-up credential itself.
    size = 200 * 1024
    scope = _scope("/api/v1/recognitions", [credential, (b"content-length", b"%d" % size)])
    status, read = asyncio.run(_call(scope, size))
    assert read == size and status in {401, 403}


def test_large_bodies_past_the_cap_get_503_before_a_byte_is_read(settings):
    """One slot: while one large body is being received, the next is refused without waiting."""
    from portal.middleware import BodySizeLimit

    settings.EARSHOT_MAX_LARGE_BODIES = 1
    release = asyncio.Event()

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    limiter = BodySizeLimit(app)
    size = 200 * 1024
    scope = _scope("/api/v1/tracks", [API_KEY, (b"content-length", b"%d" % size)])

    async def call():
        sent, read = [], 0

        async def receive():
            nonlocal read
            read += size
            return {"type": "http.request", "body": b"\0" * size, "more_body": False}

        async def send(message):
            sent.append(message)

        await limiter(scope, receive, send)
        return next(m for m in sent if m["type"] == "http.response.start")["status"], read

    async def scenario():
        first = asyncio.create_task(call())
        async with asyncio.timeout(10):
            while limiter.slots.in_use == 0:
                await asyncio.sleep(0.01)
        refused = _without_waiting(call())
        release.set()
        return refused, await first, await call()

    refused, first, after = asyncio.run(scenario())
    assert refused == (503, 0)
    assert first == (200, size) and after == (200, size)  # the slot came back
    assert limiter.slots.in_use == 0


def _head(path: str, length: int, credential: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\nConnection: close\r\n".encode()
        + credential
        + b"Content-Type: application/octet-stream\r\n\r\n"
    )


def test_daphne_refuses_20_concurrent_anonymous_150_mb_uploads_at_once(start_daphne):
    """The issue's attack: anonymous uploads of 150 MB each, all at once, to every upload path."""
    base = start_daphne()  # the default limits: 200 MiB for uploads, 5 MiB for the rest
    pid = start_daphne.pids[base]
    paths = ["/api/v1/recognitions", "/api/v1/tracks", "/uploads/new/", "/admin/catalog/track/add/"]
    size = 150 * 10**6
    before = _rss_mb(pid)
    peak = before
    results: list[tuple[bytes, float]] = []
    done = threading.Event()

    def post(path):
        started = time.monotonic()
        answer, _ = _stream_until_answered(base, path, _head(path, size), b"\0" * CHUNK, size, deadline_s=3)
        results.append((answer, time.monotonic() - started))

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb(pid))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    clients = [threading.Thread(target=post, args=(paths[i % len(paths)],)) for i in range(20)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    done.set()
    watcher.join()
    assert len(results) == 20
    for answer, elapsed in results:
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b'"not_authenticated"' in answer and b"www-authenticate: api-key" in answer.lower()
        assert elapsed < 1, elapsed
    assert peak - before < 50, (before, peak)


def test_daphne_gives_credentialed_large_bodies_one_slot_each(start_daphne):
    """With one slot, a second large upload waits its turn (503), and gets it when the first ends."""
    import socket
    from urllib.parse import urlsplit

    base = start_daphne(EARSHOT_MAX_LARGE_BODIES="1", EARSHOT_MAX_BODY_BYTES=str(64 * 1024))
    address = (urlsplit(base).hostname, urlsplit(base).port)
    credential = b"Authorization: " + API_KEY[1] + b"\r\n"
    size = 1024 * 1024
    holder = socket.create_connection(address, timeout=10)
    holder.sendall(_head("/api/v1/recognitions", size, credential) + b"\0" * (256 * 1024))  # and holds on
    time.sleep(0.5)  # the server has read the head and the first bytes
    answer, sent = _stream_until_answered(
        base, "/api/v1/tracks", _head("/api/v1/tracks", size, credential), b"\0" * CHUNK, size, deadline_s=5
    )
    assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    assert b"retry-after: 5" in answer.lower()
    assert sent <= 4 * 1024 * 1024  # refused on its head; what it sent is only what loopback buffered
    holder.close()
    deadline = time.monotonic() + 5
    while True:  # the slot is free once the server has seen the holder go
        answer, sent = _stream_until_answered(
            base, "/api/v1/tracks", _head("/api/v1/tracks", size, credential), b"\0" * CHUNK, size, deadline_s=10
        )
        if not answer.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]  # Django's answer: the key is not real
    assert b'"authentication_failed"' in answer or b"not valid" in answer
    assert sent == size
