"""Shared fixtures: users per role, a private media folder, and real encoded audio."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role
from tests import media
from tests.factories import PASSWORD, UserFactory
from tests.receivers import Receiver
from tests.workers import REDIS_DATABASES

assert shutil.which("ffmpeg"), "ffmpeg is required: run `make test` (it installs it)"
ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER") and not config.pluginmanager.has_plugin("tests.workers"):
        raise pytest.UsageError("xdist workers would share one Redis database: add -p tests.workers")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Hashing test passwords with PBKDF2 would cost a second per user; tests check logic, not that."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Each test stores files in its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _clean_redis(settings):
    """Tests share the machine's Redis: each starts with an empty test database (15, or its
    worker's under xdist: tests/workers.py)."""
    if settings.REDIS_URL:
        import redis

        number = int(settings.REDIS_URL.rsplit("/", 1)[1])
        assert number in REDIS_DATABASES, f"tests only ever flush Redis databases {REDIS_DATABASES}"
        redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(autouse=True, scope="session")
def _connections_closed_after_each_request():
    """In this process, Django closes a thread's connection after each request and each consumer
    call (CONN_MAX_AGE 0): a connection kept by a request's or a consumer's thread would outlive its
    test, and the next test (or the test database's removal) would find it. A Daphne a test starts
    keeps the portal's default (tests/test_serving.py measures both)."""
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _ask_ahead_connection_closed():
    """A clip's lookups asked ahead run on a helper thread's own connection, kept between clips
    (recognition/store/ahead.py): closed after each test, before its database is flushed or
    dropped."""
    yield
    from recognition.store import ahead

    assert ahead.close_connection(), "the ask-ahead helper did not close its connection"


@pytest.fixture
def api():
    """An API client; `api.as_key(key)` authenticates it with an API key."""
    client = APIClient()

    def as_key(key):
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    client.as_key = as_key
    return client


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def make_user(db):
    def make(role=Role.LISTENER, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def rights_holder(make_user):
    return make_user(Role.RIGHTS_HOLDER, username="holder_a")


@pytest.fixture
def other_rights_holder(make_user):
    return make_user(Role.RIGHTS_HOLDER, username="holder_b")


@pytest.fixture
def staff(make_user):
    return make_user(Role.STAFF, username="staffer")


@pytest.fixture
def receiver(settings):
    """Make webhook receivers on loopback (tests.receivers.Receiver), which webhooks may call here."""
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    made: list[Receiver] = []

    def make(statuses=(), delay_s: float = 0.0) -> Receiver:
        made.append(Receiver(statuses, delay_s))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture(scope="session")
def song_files(tmp_path_factory):
    """Three synthetic 40 s songs as WAV files (seed -> path), made once per session."""
    folder = tmp_path_factory.mktemp("songs")
    return {seed: media.write_wav(folder / f"song{seed}.wav", media.synth_song(seed, 40)) for seed in (1, 2, 3)}


def subprocess_environment() -> dict:
    """The environment a subprocess needs to use the test database and the test's media folder."""
    db = settings.DATABASES["default"]
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_MEDIA_ROOT": settings.MEDIA_ROOT,
    }


def admin_sql(*statements: str) -> None:
    """Run statements on the maintenance database (CREATE/DROP DATABASE refuse transactions)."""
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    admin.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answering(base: str, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    """Wait until a server started by a test answers HTTP (`/healthz`), not only accepts connections:
    on a machine the suite keeps busy (it runs on every core) a Daphne process takes seconds to import
    Django, and `portal.serve` listens before its processes have started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=max(1.0, deadline - time.monotonic())):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"the server at {base} did not answer: " + log.read_text(errors="replace")[-2000:])


@pytest.fixture
def start_daphne(transactional_db, tmp_path):
    """Start real Daphne servers (HTTP + websockets) on free ports, against the test database."""
    env = {**subprocess_environment(), "DJANGO_DEBUG": "false"}
    started = []

    def start(**extra_env) -> str:
        port = _free_port()
        log = open(tmp_path / f"daphne-{port}.log", "wb")  # noqa: SIM115 - closed at teardown
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port),
             "portal.asgi:application"],
            cwd=ROOT, env={**env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append((process, log))
        start.pids[f"http://127.0.0.1:{port}"] = process.pid
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(base, process, tmp_path / f"daphne-{port}.log")
        return base

    start.pids = {}  # base URL -> the server's pid
    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def daphne_server(start_daphne):
    """One live Daphne server's base URL."""
    return start_daphne()
