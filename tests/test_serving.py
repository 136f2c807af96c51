"""How the portal is served: Daphne processes on one socket (portal/serve.py), long-lived threads
that keep their database connections (portal/sync_threads.py), no second parse of a body."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from portal import sync_threads
from portal.sync_threads import PooledSyncThreads
from tests.conftest import ROOT, _free_port, subprocess_environment


def _run_requests(app, count: int, *, at_once: bool) -> dict[str, set[int]]:
    """Send `count` HTTP requests to `app`, one after the other or all at once; return the threads
    each one's synchronous code ran on, by request."""
    ran_on: dict[str, set[int]] = {}

    async def one(number: int) -> None:
        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            pass

        path = f"/{number}"
        await app({"type": "http", "path": path, "ran_on": ran_on.setdefault(path, set())}, receive, send)

    async def all_of_them() -> None:
        if at_once:
            await asyncio.gather(*(one(number) for number in range(count)))
        else:
            for number in range(count):
                await one(number)

    asyncio.run(all_of_them())
    return ran_on


async def _django_like(scope, receive, send):
    """What Django's handler does with a request's synchronous code: thread-sensitive calls."""

    def work() -> None:
        scope["ran_on"].add(threading.get_ident())
        time.sleep(0.05)

    await sync_to_async(work, thread_sensitive=True)()
    await sync_to_async(lambda: scope["ran_on"].add(threading.get_ident()), thread_sensitive=True)()


def test_requests_run_on_long_lived_threads_each_on_one_thread():
    app = PooledSyncThreads(_django_like, size=2)
    one_by_one = _run_requests(app, 5, at_once=False)
    assert all(len(threads) == 1 for threads in one_by_one.values())
    assert len(set.union(*one_by_one.values())) == 1  # one after the other: the same thread
    at_once = _run_requests(app, 5, at_once=True)
    # Side by side, each request on one thread for all its calls: the two long-lived threads serve
    # two of them, three get a thread of their own.
    assert all(len(threads) == 1 for threads in at_once.values())
    assert len(set.union(*at_once.values())) == 5
    again = _run_requests(app, 2, at_once=True)
    assert set.union(*again.values()) <= set.union(*at_once.values())  # the long-lived ones, kept
    assert len(set.union(*again.values())) == 2


def test_a_thread_whose_request_failed_serves_again_after_closing_its_connection(monkeypatch):
    closed_on = []
    monkeypatch.setattr(sync_threads, "_close_connections", lambda: closed_on.append(threading.get_ident()))
    ran_on: dict[str, set[int]] = {"/failed": set(), "/next": set()}

    async def app(scope, receive, send):
        await _django_like(scope, receive, send)
        if scope["path"] == "/failed":
            raise RuntimeError("the view failed")

    pooled = PooledSyncThreads(app, size=1)

    async def failed_then_next() -> None:
        with pytest.raises(RuntimeError):
            await pooled({"type": "http", "path": "/failed", "ran_on": ran_on["/failed"]}, None, None)
        await asyncio.gather(*pooled._settling)  # the thread closes its connection, then serves again
        await pooled({"type": "http", "path": "/next", "ran_on": ran_on["/next"]}, None, None)

    asyncio.run(failed_then_next())
    # The same long-lived thread served both, its connection closed in between.
    assert ran_on["/failed"] == ran_on["/next"] == set(closed_on)
    assert len(closed_on) == 1


def _backends_since(started: datetime) -> set[int]:
    """PostgreSQL processes serving the test database opened since `started`, other than ours."""
    db = settings.DATABASES["default"]
    connection = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_start > %s",
            [started],
        )
        found = {pid for (pid,) in cursor.fetchall()}
    connection.close()
    return found


@pytest.mark.parametrize("max_age", ["60", "0"])
def test_daphne_keeps_a_database_connection_between_requests(start_daphne, max_age):
    base = start_daphne(DJANGO_CONN_MAX_AGE=max_age)
    started = datetime.now(UTC)
    seen = set()
    for _ in range(10):
        with urllib.request.urlopen(base + "/readyz", timeout=10) as response:  # noqa: S310 - local URL
            assert b'"database": "ok"' in response.read()
        seen |= _backends_since(started)
    if max_age == "0":  # Django closes each request's connection: ten of them, none left
        # The response reaches us before Django's request_finished closes the connection, and a
        # backend leaves pg_stat_activity a moment after its client goes: wait for it, briefly.
        deadline = time.monotonic() + 5
        while _backends_since(started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _backends_since(started) == set()
    else:  # the long-lived threads' connections served all ten, and stay open
        # The response reaches us before the middleware takes its thread back, so the next
        # request may find none idle and take a second long-lived thread (a busy machine does).
        assert 1 <= len(seen) <= 2 and _backends_since(started) == seen


def test_daphne_hands_a_multipart_body_to_django_unparsed(start_daphne):
    """Twisted would parse a multipart body into `request.args` (nothing reads it) and answer a
    malformed one with a bare 400 of its own; Django now gets it and answers as the API does."""
    base = start_daphne()
    request = urllib.request.Request(  # noqa: S310 - a local URL
        base + "/api/v1/recognitions",
        data=b"not a multipart body",
        headers={"Content-Type": "multipart/form-data; boundary=xyz", "Authorization": "Api-Key abcdEFGH." + "k" * 32},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 - local URL
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert status == 401 and body.startswith(b'{"error":'), body  # Django's answer: the key is not valid


def _serve(port: int, processes: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as output:  # the children keep their own copy of it
        process = subprocess.Popen(
            [sys.executable, "-m", "portal.serve", "--port", str(port), "--processes", str(processes)],
            cwd=ROOT, env={**subprocess_environment(), "DJANGO_DEBUG": "false"},
            stdout=subprocess.DEVNULL, stderr=output,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("portal.serve did not start: " + log.read_text()[-2000:])


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def _running(pid: int) -> bool:
    """Whether a process still runs: an orphan that exited stays a zombie until whoever adopted it
    reaps it, which on a busy machine can take a while."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _listening_inode(pid: int) -> set[str]:
    """The sockets a process holds (their inodes)."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed since it was listed
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def test_serve_runs_daphne_processes_on_one_socket_and_stops_them(transactional_db, tmp_path):
    port = _free_port()
    process = _serve(port, 2, tmp_path / "serve.log")
    try:
        children = _children(process.pid)
        assert len(children) == 2
        shared = set.intersection(*(_listening_inode(child) for child in children))
        assert shared  # both hold the one listening socket the launcher bound
        assert not _listening_inode(process.pid)  # and the launcher let go of it
        for _ in range(6):  # every connection is answered, whichever process takes it
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=45) == 0
        for child in children:
            assert not os.path.exists(f"/proc/{child}")  # stopped and reaped
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_stops_every_process_when_one_dies(transactional_db, tmp_path):
    port = _free_port()
    process = _serve(port, 2, tmp_path / "serve.log")
    try:
        first, second = _children(process.pid)
        os.kill(first, signal.SIGKILL)
        assert process.wait(timeout=45) != 0  # the supervisor sees a failed server
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{second}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{second}")
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_processes_stop_when_the_launcher_is_killed(transactional_db, tmp_path):
    port = _free_port()
    process = _serve(port, 2, tmp_path / "serve.log")
    children = _children(process.pid)
    try:
        process.kill()  # no SIGTERM to pass on: each Daphne gets its parent-death signal
        process.wait(timeout=10)
        deadline = time.monotonic() + 45
        while any(_running(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(child) for child in children)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
