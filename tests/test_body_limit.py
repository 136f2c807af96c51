"""Request bodies over the limit are refused in front of Django, before they are spooled (G7)."""

import asyncio
import time

import pytest

from portal.asgi import application

LIMIT = 1024 * 1024
CHUNK = 64 * 1024
# An API key of the right shape: the upload paths' large limit needs one (portal.bodies); Django
# refuses this one later, which is not what these tests are about.
API_KEY = (b"authorization", b"Api-Key abcdEFGH." + b"k" * 32)


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.EARSHOT_MAX_UPLOAD_BYTES = LIMIT
    settings.EARSHOT_MAX_BODY_BYTES = 64 * 1024


def _scope(path, headers=()):
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), *headers], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
    }  # fmt: skip


async def _call(scope, total_bytes):
    """Play a client sending `total_bytes` in 64 KiB chunks; return (status, bytes the server read)."""
    read = 0
    sent = []

    async def receive():
        nonlocal read
        if read >= total_bytes:
            await asyncio.sleep(3600)  # a client that keeps the connection open
        size = min(CHUNK, total_bytes - read)
        read += size
        return {"type": "http.request", "body": b"\0" * size, "more_body": read < total_bytes}

    async def send(message):
        sent.append(message)

    await asyncio.wait_for(application(scope, receive, send), timeout=10)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, "exactly one response"
    assert any(m["type"] == "http.response.body" and m.get("body") for m in sent), "the response has a body"
    return starts[0]["status"], read


def test_a_declared_gigabyte_is_refused_without_reading_it():
    gib = 1024**3
    started = time.monotonic()
    status, read = asyncio.run(_call(_scope("/uploads/new/", [API_KEY, (b"content-length", str(gib).encode())]), gib))
    assert status == 413 and read == 0
    assert time.monotonic() - started < 1


def test_an_undeclared_gigabyte_is_cut_off_just_past_the_limit():
    started = time.monotonic()
    status, read = asyncio.run(_call(_scope("/uploads/new/", [API_KEY]), 1024**3))
    assert status == 413
    assert read <= LIMIT + CHUNK
    assert time.monotonic() - started < 1


def test_other_paths_have_the_small_limit():
    status, read = asyncio.run(_call(_scope("/accounts/login/", [(b"content-length", b"100000")]), 100000))
    assert status == 413 and read == 0


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("path", ["/api/v1/albums/1/artwork", "/api/v1/tracks/1/artwork", "/api/v1/tracks/1/artwork/"])
def test_artwork_has_the_small_limit_even_with_a_key(declared, path):
    """Artwork is at most 4 MiB: a huge image stops at the small limit, a track's too, though its path
    lies under the upload path /api/v1/tracks."""
    headers = [API_KEY, (b"content-length", str(1024**3).encode())] if declared else [API_KEY]
    status, read = asyncio.run(_call(_scope(path, headers), 1024**3))
    assert status == 413 and read <= 64 * 1024 + CHUNK


@pytest.mark.django_db
def test_bodies_under_the_limit_reach_django():
    # A small POST reaches Django, which refuses it for its own reason (no CSRF token), not 413.
    status, read = asyncio.run(_call(_scope("/accounts/login/", [(b"content-length", b"10")]), 10))
    assert status == 403 and read == 10


def _without_waiting(coroutine):
    """Run `coroutine` to its end in one step; fail if it has to wait for anything on the way."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise AssertionError("it waited before answering")


def test_heavy_requests_past_capacity_get_503_at_once(settings):
    """G4: a process already holding its share of recognitions sheds new ones in microseconds.

    "At once" is checked without a stopwatch, which a loaded machine would fail: the refusal is
    run to its end without giving the event loop a turn, so it cannot have waited for anything
    (a timer, a lock, the requests that hold the capacity).
    """
    from portal.middleware import LoadShedder

    settings.EARSHOT_MAX_QUEUED_HEAVY = 2
    release = asyncio.Event()
    entered = []  # paths that reached the app behind the shedder

    async def slow_app(scope, receive, send):
        entered.append(scope["path"])
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shedder = LoadShedder(slow_app)

    async def call(path="/api/v1/recognitions", method="POST"):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await shedder({**_scope(path), "method": method}, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        return start["status"], dict(start["headers"])

    async def until(condition):
        async with asyncio.timeout(10):
            while not condition():
                await asyncio.sleep(0.01)

    async def scenario():
        busy = [asyncio.create_task(call()) for _ in range(2)]
        await until(lambda: len(entered) == 2)
        status, headers = _without_waiting(call())
        light = asyncio.create_task(call("/healthz", "GET"))  # never held back
        await until(lambda: "/healthz" in entered)
        light_done = light.done()
        release.set()
        await asyncio.gather(*busy, light)
        return status, headers, light_done, [t.result()[0] for t in busy]

    status, headers, light_done, others = asyncio.run(scenario())
    assert status == 503 and headers[b"retry-after"] == b"1"
    assert others == [200, 200]
    assert light_done is False  # it went to the app (which was blocked), not to the shedder's refusal


def test_a_request_leaves_the_count_as_its_answer_goes_out(settings):
    """A client at capacity that sends its next request the moment it has its answer is not shed:
    the app may still be returning (Django closes the connection after the last bytes)."""
    from portal.middleware import LoadShedder

    settings.EARSHOT_MAX_QUEUED_HEAVY = 1
    finish = asyncio.Event()

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        await finish.wait()  # still inside the app after its answer went out

    shedder = LoadShedder(app)

    async def call():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        task = asyncio.create_task(shedder({**_scope("/api/v1/recognitions"), "method": "POST"}, receive, send))
        async with asyncio.timeout(10):
            while not any(m["type"] == "http.response.body" for m in sent):
                await asyncio.sleep(0.01)
        return task, next(m for m in sent if m["type"] == "http.response.start")["status"]

    async def scenario():
        first, first_status = await call()
        second, second_status = await call()  # the same client, at once
        finish.set()
        await asyncio.gather(first, second)
        return first_status, second_status, shedder.in_flight

    assert asyncio.run(scenario()) == (200, 200, 0)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stream_until_answered(
    base_url: str, path: str, head: bytes, chunk: bytes, max_bytes: int, deadline_s: float = 60
) -> tuple[bytes, int]:
    """Send `head` then `chunk`s until the server answers or closes; return (answer, bytes sent).

    Sending stops after `deadline_s` too, so a server that reads everything is not fed for long.
    """
    import select
    import socket
    from urllib.parse import urlsplit

    host, port = urlsplit(base_url).hostname, urlsplit(base_url).port
    sent = 0
    deadline = time.monotonic() + deadline_s
    with socket.create_connection((host, port), timeout=10) as client:
        client.sendall(head)
        while sent < max_bytes and time.monotonic() < deadline:
            readable, _, _ = select.select([client], [], [], 0)
            if readable:
                break
            try:
                client.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        client.settimeout(10)
        answer = b""
        try:
            while part := client.recv(65536):
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_daphne_refuses_a_gigabyte_where_the_bytes_arrive(start_daphne, declared):
    """Daphne buffers whole bodies before the ASGI app runs; the hook in front of it must not."""
    base = start_daphne(EARSHOT_MAX_UPLOAD_BYTES=str(LIMIT))
    pid = start_daphne.pids[base]
    before = _rss_mb(pid)
    gib = 1 << 30
    framing = f"Content-Length: {gib}\r\n" if declared else "Transfer-Encoding: chunked\r\n"
    head = (
        f"POST /api/v1/recognitions HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}"
        f"Authorization: {API_KEY[1].decode()}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    piece = b"\0" * CHUNK
    chunk = piece if declared else f"{CHUNK:x}\r\n".encode() + piece + b"\r\n"
    started = time.monotonic()
    answer, sent = _stream_until_answered(base, "/api/v1/recognitions", head, chunk, gib)
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"too_large"' in answer
    assert elapsed < 5, elapsed
    assert sent < 16 * LIMIT  # stopped just past the limit (plus what loopback buffers hold)
    assert _rss_mb(pid) - before < 50  # and the server kept none of it
