"""Venue devices: audio a browser or a headless client sends over the device socket, carried to
whichever worker holds the monitor through a Redis stream per monitor.

The socket (recognition/monitors/consumers.py) appends each frame with `device_audio_append`; the
worker reads with a `DeviceSource`, which looks like a stream source to the runner. The Redis
stream keeps the last ~2 minutes, so a worker taking over mid-play loses nothing it needs, and a
device with no worker listening cannot fill Redis.
"""

from __future__ import annotations

import time

import numpy as np
from django.conf import settings

from recognition.monitors.sources import SourceError

__all__ = ["DEVICE_IDLE_S", "DeviceSource", "device_audio_append", "device_stream_key"]

SAMPLE_RATE_HZ = 8000
# Frames are 250 ms: 480 entries are 2 minutes of audio (~2 MB of 8 kHz PCM per monitor).
STREAM_MAX_ENTRIES = 480
# A device silent for this long turns the monitor `waiting` (not an error: the venue closed).
DEVICE_IDLE_S = 15.0

_clients: dict[str, object] = {}


def _redis():
    import redis

    url = settings.REDIS_URL
    if not url:
        raise SourceError("no_redis", "Device monitors need Redis (REDIS_URL).", permanent=True)
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=10)
    return _clients[url]


def device_stream_key(monitor_id: int) -> str:
    return f"earshot:monitor:{monitor_id}:audio"


def device_audio_append(*, monitor_id: int, pcm: bytes) -> None:
    """Append one frame of 16-bit little-endian mono PCM at 8 kHz (already checked by the socket)."""
    _redis().xadd(device_stream_key(monitor_id), {"pcm": pcm}, maxlen=STREAM_MAX_ENTRIES, approximate=True)


# A new reader starts this far back: the audio a worker that died had not finished with, or that
# arrived while the runner started. Detections it repeats are continued, not doubled.
REPLAY_S = 5.0


class DeviceSource:
    """Read a device monitor's audio as it arrives, from a few seconds before now."""

    def __init__(self, monitor_id: int, *, idle_s: float = DEVICE_IDLE_S):
        self._key = device_stream_key(monitor_id)
        seconds, micros = _redis().time()  # the server's clock: stream ids are its milliseconds
        self._last_id = f"{max(0, seconds * 1000 + micros // 1000 - int(REPLAY_S * 1000))}-0"
        self._idle_s = idle_s
        self._heard_at = time.monotonic()
        self._pending = np.empty(0, np.int16)
        self._newest_arrival_s: float | None = None  # when the newest frame fetched reached Redis
        self._closed = False

    @property
    def arrival_s(self) -> float | None:
        """Wall-clock time (Unix seconds) at which the last sample returned reached the server."""
        if self._newest_arrival_s is None:
            return None
        return self._newest_arrival_s - self._pending.size / SAMPLE_RATE_HZ

    def read(self, max_samples: int) -> np.ndarray:
        """Return up to `max_samples` samples; block up to a second; raise when the device is idle."""
        if self._pending.size == 0 and not self._closed:
            self._fetch()
        out, self._pending = self._pending[:max_samples], self._pending[max_samples:]
        if out.size:
            self._heard_at = time.monotonic()
        elif time.monotonic() - self._heard_at > self._idle_s:
            self._heard_at = time.monotonic()
            raise SourceError("device_offline", "The device is not sending audio.", permanent=False)
        return out

    def _fetch(self) -> None:
        import redis

        try:
            answer = _redis().xread({self._key: self._last_id}, count=40, block=1000)
        except redis.RedisError as error:
            raise SourceError("redis", f"Device audio is unavailable ({error}).", permanent=False) from None
        frames = []
        for _key, entries in answer or []:
            for entry_id, fields in entries:
                self._last_id = entry_id
                # A stream entry's id is the Redis server's clock in milliseconds when it arrived.
                self._newest_arrival_s = int(entry_id.split(b"-")[0]) / 1000
                pcm = fields.get(b"pcm", b"")
                frames.append(np.frombuffer(pcm[: len(pcm) // 2 * 2], "<i2"))
        if frames:
            self._pending = np.concatenate([self._pending, *frames])

    def close(self) -> None:
        self._closed = True
