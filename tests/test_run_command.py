"""`make run`, the README's first command, run as a newcomer runs it: it must bring the portal up,
as production-like as the machine allows, with a demo song that is named on the first try.

A typo in Daphne's flags once kept it from starting while every other test passed, because the
tests start Daphne themselves; this one starts it the way the README says.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import psycopg2
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from catalog.demo import DEMO_ALBUMS, synth_song
from tests.conftest import ROOT, _free_port, admin_sql
from tests.e2e.conftest import browser_with_microphone, microphone_file  # noqa: F401 - a fixture

# The Redis `make run` uses when REDIS_URL is unset (scripts/run.sh): the machine's, on its port.
LOCAL_REDIS = "redis://127.0.0.1:6379/0"

# scripts/run.sh caps a websocket message at 128 KiB in Daphne, before any of it reaches the
# consumer (whose own cap is 64 KiB); Daphne's default would let 1 MiB through.
OVER_DAPHNE_CAP = 200 * 1024


@pytest.fixture
def scratch_database():
    """The name of a database that does not exist yet, dropped afterwards."""
    name = f"earshot_run_{os.getpid()}"
    yield name
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _get(url: str) -> tuple[int, dict, bytes]:
    """(status, headers, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local URL
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_make_run_serves_the_portal_with_the_demo_catalog(
    scratch_database,
    tmp_path,
    browser_with_microphone,  # noqa: F811 - the fixture imported above
):
    import redis

    try:
        redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=2).ping()
    except redis.RedisError:
        pytest.fail(f"make run is tested with the machine's Redis, which does not answer at {LOCAL_REDIS}")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{scratch_database}",
        "DJANGO_MEDIA_ROOT": str(tmp_path / "media"),
        "PORT": str(port),
        # Keys of its own in the shared Redis: another `make run` on this machine must not answer
        # for this one's worker.
        "CACHE_KEY_PREFIX": f"earshot-run-test-{os.getpid()}",
    }
    # As on a newcomer's machine: run.sh chooses these itself (DEBUG off, a key of the machine's
    # own, plain HTTP, the machine's Redis, tasks in PostgreSQL).
    for name in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_HTTPS", "REDIS_URL", "DJANGO_TASKS_BACKEND"):
        env.pop(name, None)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2) as response:  # noqa: S310 - local URL
                    status = response.status
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200, "make run did not serve /readyz:\n" + log_path.read_text()[-3000:]
        # The worker's heartbeat reaches the web process through the shared Redis: /readyz sees
        # the worker running beside it, not "stale".
        deadline = time.monotonic() + 60
        while True:
            ready = json.loads(_get(base + "/readyz")[2])
            if ready["checks"]["worker"] == "ok" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert ready == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "worker": "ok"}}, ready
        assert (ROOT / "var" / "secret_key").stat().st_mode & 0o077 == 0  # the machine's own key, private

        # Production pages, not Django's debug ones: the site's 404, no list of every URL.
        status, _, body = _get(base + "/no-such-page/")
        assert status == 404 and b'data-testid="error-404"' in body, body[:500]
        assert b"URLconf" not in body and b"DEBUG = True" not in body
        status, headers, body = _get(base + "/favicon.ico")
        assert status == 200 and headers["Content-Type"] == "image/x-icon" and body[:4] == b"\0\0\1\0"
        with urllib.request.urlopen(base + "/", timeout=10) as response:  # noqa: S310 - local URL
            assert b'data-ws-path="/ws/listen/"' in response.read()
        with urllib.request.urlopen(base + "/static/js/listen.js", timeout=10) as response:  # noqa: S310
            assert b"WebSocket" in response.read()  # the record page's script is served

        connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=scratch_database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM catalog_track WHERE hash_count > 0")
                (fingerprinted,) = cursor.fetchone()
        finally:
            connection.close()
        demo = sum(len(album.present()) for album in DEMO_ALBUMS)
        assert fingerprinted == demo == 36, "the demo catalog: 31 Drascula tracks, 3 ASC songs, 2 synthesised (README)"

        with connect(f"ws://127.0.0.1:{port}/ws/listen/", origin=base, open_timeout=10) as listen:
            assert '"listening"' in listen.recv(timeout=10)
            listen.send(b"\0" * OVER_DAPHNE_CAP)
            with pytest.raises(ConnectionClosed) as closed:
                listen.recv(timeout=10)
        # Daphne fails the connection by dropping it (autobahn's failByDrop), so no close frame
        # comes back; had the message reached the consumer, it would have answered with an error
        # and closed with its own code.
        assert closed.value.rcvd is None

        # A newcomer's first try, in a room that is not quiet: "Play a demo song" names it.
        browser = browser_with_microphone(microphone_file(tmp_path, 0.1 * synth_song(5151, 40)))
        page = browser.new_page()
        page.goto(base + "/")
        page.get_by_test_id("demo").click()
        title = page.get_by_test_id("match-title")
        title.wait_for(state="visible", timeout=30_000)
        played = int(page.locator("[data-listen]").get_attribute("data-demo-track-id"))
        connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=scratch_database)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT title FROM catalog_track WHERE id = %s", [played])
                assert title.inner_text() == cursor.fetchone()[0]
        finally:
            connection.close()
    finally:
        with contextlib.suppress(ProcessLookupError):  # the whole group may be gone already
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
