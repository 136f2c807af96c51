"""Limits on live listening, shared by every server process through Redis when it is configured.

A listener (a user, or for anonymous visitors a network: an IPv4 address or an IPv6 /64) holds
one slot per open socket, and starts sessions at a limited rate (a token bucket per listener). Slots
live in a Redis sorted set scored by their last heartbeat; a slot not refreshed for
`STALE_AFTER_S` is dropped, so a worker that dies cannot leak slots forever. Without Redis
(a single local process) the same rules apply in memory.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings

from portal.ratelimit import TAKE_SCRIPT

__all__ = [
    "FrameError",
    "ListenLimits",
    "SessionSlots",
    "TokenBucket",
    "frame_samples",
    "listen_limits",
    "session_slots",
]

STALE_AFTER_S = 60.0


@dataclass(frozen=True)
class ListenLimits:
    """The rules of one listening socket (settings.EARSHOT_LISTEN)."""

    max_message_bytes: int
    max_messages_per_s: float
    max_audio_s: float
    max_session_s: float
    sockets: int
    starts_burst: int
    starts_per_minute: float


def listen_limits(*, anonymous: bool) -> ListenLimits:
    config = settings.EARSHOT_LISTEN
    prefix = "anonymous_" if anonymous else ""
    return ListenLimits(
        max_message_bytes=config["max_message_bytes"],
        max_messages_per_s=config["max_messages_per_s"],
        max_audio_s=config[f"{prefix}max_audio_s"],
        max_session_s=config["max_session_s"],
        sockets=config[f"{prefix}sockets"],
        starts_burst=config[f"{prefix}starts_burst"],
        starts_per_minute=config[f"{prefix}starts_per_minute"],
    )


class FrameError(ValueError):
    """A socket message that is not an acceptable audio frame; `code` is the close code."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


BAD_FRAME = 4000
TOO_LARGE = 4009


def frame_samples(data: bytes | None, max_bytes: int):
    """Samples (float32 in [-1, 1)) of one binary message of little-endian int16 PCM, or FrameError."""
    import numpy as np

    if data is None:
        raise FrameError(BAD_FRAME, "Send audio as binary 16-bit PCM frames.")
    if len(data) > max_bytes:
        raise FrameError(TOO_LARGE, f"Audio frames are limited to {max_bytes // 1024} KiB.")
    if len(data) % 2:
        raise FrameError(BAD_FRAME, "Audio frames hold whole 16-bit samples.")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768


class TokenBucket:
    """Allow `rate` events (or units) a second on average with bursts of `burst`; one bucket per socket."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.updated = time.monotonic()

    def take(self, cost: float = 1) -> bool:
        """Spend `cost` tokens (one message, or a frame's samples) if the bucket holds them."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


# Atomically: drop stale slots, then take one if fewer than the limit are held.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2]))
  return 1
end
return 0
"""


class SessionSlots:
    """Open listening sockets per listener, counted across server processes."""

    def __init__(self, redis_url: str | None):
        self._redis = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.Redis.from_url(redis_url)
            self._acquire = self._redis.register_script(_ACQUIRE)
            self._take = self._redis.register_script(TAKE_SCRIPT)
        self._local: dict[str, dict[str, float]] = {}
        self._local_starts: dict[str, TokenBucket] = {}
        self._lock = asyncio.Lock()

    @staticmethod
    def _key(listener: str) -> str:
        return f"earshot:listen:slots:{listener}"

    async def start(self, listener: str, burst: int, per_minute: float) -> bool:
        """Spend one of the listener's session starts if it has one left."""
        if self._redis is not None:
            key = f"earshot:listen:starts:{listener}"
            allowed, _ = await self._take(keys=[key], args=[per_minute / 60, burst, time.time(), 1])
            return bool(allowed)
        bucket = self._local_starts.setdefault(listener, TokenBucket(per_minute / 60, burst))
        return bucket.take()

    async def acquire(self, listener: str, socket_id: str, limit: int) -> bool:
        now = time.time()
        if self._redis is not None:
            return bool(await self._acquire(keys=[self._key(listener)], args=[now, STALE_AFTER_S, limit, socket_id]))
        async with self._lock:
            slots = {s: t for s, t in self._local.get(listener, {}).items() if t > now - STALE_AFTER_S}
            if len(slots) >= limit:
                return False
            slots[socket_id] = now
            self._local[listener] = slots
            return True

    async def refresh(self, listener: str, socket_id: str) -> None:
        if self._redis is not None:
            await self._redis.zadd(self._key(listener), {socket_id: time.time()}, xx=True)
        elif socket_id in self._local.get(listener, {}):
            self._local[listener][socket_id] = time.time()

    async def release(self, listener: str, socket_id: str) -> None:
        if self._redis is not None:
            await self._redis.zrem(self._key(listener), socket_id)
        else:
            self._local.get(listener, {}).pop(socket_id, None)


_slots: dict[int, SessionSlots] = {}


def session_slots() -> SessionSlots:
    """The process's slot registry (one per event loop: redis.asyncio clients are loop-bound)."""
    loop = asyncio.get_running_loop()
    key = id(loop)
    if key not in _slots:
        _slots.clear()  # a new event loop (tests) makes the old clients unusable
        _slots[key] = SessionSlots(settings.REDIS_URL or None)
    return _slots[key]
