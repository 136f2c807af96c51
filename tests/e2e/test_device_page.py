"""The venue device page in Chromium against a live Daphne: it streams the microphone to the
monitor's Redis stream, and reconnects by itself when the server goes away and comes back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from catalog.demo import synth_song
from recognition.monitors.devices import device_stream_key
from tests.conftest import ROOT, subprocess_environment
from tests.e2e.conftest import microphone_file

# Database fixtures (`venue`) come before the browser: Playwright's sync API runs an event loop,
# and Django refuses ORM calls while one is running.
pytestmark = pytest.mark.browser


def _restart_daphne(base_url: str, pid: int, tmp_path) -> subprocess.Popen:
    """Kill the server at `base_url` and start another on the same port (a network drop, then a server back)."""
    os.kill(pid, signal.SIGKILL)
    port = int(base_url.rsplit(":", 1)[1])
    log = open(tmp_path / "daphne-restarted.log", "wb")  # noqa: SIM115 - the process outlives this function
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT, env=subprocess_environment(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    pytest.fail("Daphne did not come back")


def test_the_device_page_reconnects_by_itself_after_the_server_drops(
    venue, start_daphne, browser_with_microphone, tmp_path
):
    monitor, token, _cookie = venue
    base = start_daphne()
    frames = redis.Redis.from_url(settings.REDIS_URL)
    key = device_stream_key(monitor.pk)

    browser = browser_with_microphone(microphone_file(tmp_path, synth_song(7, 20)))
    page = browser.new_page()
    page.goto(f"{base}/monitors/{monitor.pk}/device#token={token}")
    assert "token" not in page.url  # out of the address bar and history; kept in localStorage
    page.get_by_test_id("device-start").click()
    status = page.get_by_test_id("device-status")
    status.filter(has_text="Streaming").wait_for(timeout=20_000)
    deadline = time.monotonic() + 10
    while frames.xlen(key) < 8 and time.monotonic() < deadline:
        time.sleep(0.2)
    first = frames.xrange(key)
    assert len(first) >= 8 and all(len(fields[b"pcm"]) == 4000 for _id, fields in first)

    restarted = _restart_daphne(base, start_daphne.pids[base], tmp_path)
    try:
        status.filter(has_text="reconnecting").wait_for(timeout=10_000)
        status.filter(has_text="Streaming").wait_for(timeout=30_000)
        before = frames.xlen(key)
        time.sleep(2)
        assert frames.xlen(key) >= before + 6  # ~8 frames in 2 s: streaming again
        page.get_by_test_id("device-stop").click()
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
