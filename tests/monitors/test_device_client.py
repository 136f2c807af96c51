"""scripts/device_client.py against a live Daphne: raw PCM on stdin lands in the monitor's stream."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings

from recognition.monitors import devices

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device_client.py"


def _run(url: str, token: str, pcm: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, token], input=pcm, capture_output=True, timeout=60, check=False
    )


@pytest.fixture
def socket_url(device_monitor, daphne_server):
    monitor, _ = device_monitor
    return daphne_server.replace("http://", "ws://") + f"/ws/monitors/{monitor.pk}/device"


def test_the_client_feeds_a_monitor_in_real_time(device_monitor, socket_url):
    monitor, token = device_monitor
    pcm = np.random.default_rng(3).integers(-8000, 8000, 8000 * 4).astype("<i2").tobytes()  # 4 s
    started = time.monotonic()
    done = _run(socket_url, token, pcm)
    assert time.monotonic() - started >= 2.5  # paced: a file is sent at about real time, 1 s ahead
    assert done.returncode == 0, done.stderr.decode()
    assert "streaming to Corner bar" in done.stderr.decode()
    entries = redis.Redis.from_url(settings.REDIS_URL).xrange(devices.device_stream_key(monitor.pk))
    frames = [fields[b"pcm"] for _id, fields in entries]
    assert len(frames) == 16 and all(len(frame) == 4000 for frame in frames)
    assert b"".join(frames) == pcm


def test_the_client_stops_on_a_wrong_token(device_monitor, socket_url):
    monitor, _ = device_monitor
    done = _run(socket_url, "dev_not-the-token", bytes(4000))
    assert done.returncode != 0 and "refused" in done.stderr.decode()
    assert redis.Redis.from_url(settings.REDIS_URL).xlen(devices.device_stream_key(monitor.pk)) == 0
