"""Per-client request throttling for the API, shared by every process through Redis."""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

# A token bucket in one atomic step: refill by elapsed time, take a token if there is one.
# Returns {allowed, seconds until the next token}.
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring((1 - tokens) / rate)}
"""


class ApiRateThrottle(BaseThrottle):
    """A token bucket per API key (else per user, else per address): `burst` requests at once,
    refilled at `rate_per_minute`. Over the limit the answer is 429 with Retry-After."""

    def __init__(self):
        config = settings.EARSHOT_API_THROTTLE
        self.rate_per_s = config["rate_per_minute"] / 60.0
        self.burst = config["burst"]
        self.retry_after_s: float | None = None

    def _client(self, request) -> str:
        key = getattr(request, "auth", None)
        if key is not None and hasattr(key, "prefix"):
            return f"key:{key.prefix}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"addr:{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        bucket = f"earshot:throttle:{self._client(request)}"
        allowed, wait = self._take(bucket)
        self.retry_after_s = None if allowed else wait
        return allowed

    def _take(self, bucket: str) -> tuple[bool, float]:
        client = _redis()
        now = time.time()
        if client is not None:
            allowed, wait = client.eval(_TAKE, 1, bucket, self.rate_per_s, self.burst, now)
            return bool(allowed), float(wait)
        # One process without Redis: the same bucket in the local cache (not shared, not atomic).
        tokens, at = cache.get(bucket, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - at) * self.rate_per_s)
        allowed = tokens >= 1
        tokens = tokens - 1 if allowed else tokens
        cache.set(bucket, (tokens, now), timeout=int(self.burst / self.rate_per_s) + 60)
        return allowed, (1 - tokens) / self.rate_per_s

    def wait(self) -> float | None:
        return None if self.retry_after_s is None else max(1, math.ceil(self.retry_after_s))


_client_cache: dict[str, Any] = {}  # one redis.Redis, for the current URL


def _redis():
    url = settings.REDIS_URL
    if not url:
        return None
    if url not in _client_cache:
        import redis

        _client_cache.clear()
        _client_cache[url] = redis.Redis.from_url(url)
    return _client_cache[url]
