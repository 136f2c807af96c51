"""Per-client request throttling for the API, shared by every process through Redis."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from portal.ratelimit import redis_client

# Token buckets in one atomic step: refill each by elapsed time; if every bucket has a token,
# take one from each. KEYS are the buckets, ARGV is now followed by (rate, burst) per bucket.
# Returns {allowed, seconds until every bucket has a token again}.
_TAKE = """
local now = tonumber(ARGV[1])
local tokens, rates, bursts = {}, {}, {}
local allowed = 1
for i, bucket in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
  local held = tonumber(state[1]) or burst
  local at = tonumber(state[2]) or now
  tokens[i], rates[i], bursts[i] = math.min(burst, held + (now - at) * rate), rate, burst
  if tokens[i] < 1 then allowed = 0 end
end
local wait = 0
for i, bucket in ipairs(KEYS) do
  if allowed == 1 then tokens[i] = tokens[i] - 1 end
  wait = math.max(wait, (1 - tokens[i]) / rates[i])
  redis.call('HSET', bucket, 'tokens', tokens[i], 'at', now)
  redis.call('EXPIRE', bucket, math.ceil(bursts[i] / rates[i]) + 60)
end
return {allowed, tostring(wait)}
"""


class ApiRateThrottle(BaseThrottle):
    """Token buckets of `burst` requests refilled at `rate_per_minute`: one per user (else per
    address) and, for a request made with an API key, one per key within it (`key_burst`,
    `key_rate_per_minute`; the user's figures when unset). A request takes a token from each of
    its buckets, so more keys never buy more requests. Over the limit the answer is 429 with
    Retry-After."""

    def __init__(self):
        config = settings.EARSHOT_API_THROTTLE
        self.user_limit = (config["rate_per_minute"] / 60.0, float(config["burst"]))
        self.key_limit = (
            (config.get("key_rate_per_minute") or config["rate_per_minute"]) / 60.0,
            float(config.get("key_burst") or config["burst"]),
        )
        self.retry_after_s: float | None = None

    def _buckets(self, request) -> list[tuple[str, tuple[float, float]]]:
        """The buckets a request draws on, each with its (tokens per second, burst)."""
        if request.user and request.user.is_authenticated:
            buckets = [(f"user:{request.user.pk}", self.user_limit)]
            key = getattr(request, "auth", None)
            if key is not None and hasattr(key, "prefix"):
                buckets.append((f"key:{key.prefix}", self.key_limit))
            return buckets
        return [(f"addr:{self.get_ident(request)}", self.user_limit)]

    def allow_request(self, request, view) -> bool:
        buckets = [(f"earshot:throttle:{name}", limit) for name, limit in self._buckets(request)]
        allowed, wait = self._take(buckets)
        self.retry_after_s = None if allowed else wait
        return allowed

    def _take(self, buckets: list[tuple[str, tuple[float, float]]]) -> tuple[bool, float]:
        client = redis_client()
        now = time.time()
        if client is not None:
            limits = [value for _, limit in buckets for value in limit]
            allowed, wait = client.eval(_TAKE, len(buckets), *[name for name, _ in buckets], now, *limits)
            return bool(allowed), float(wait)
        # One process without Redis: the same buckets in the local cache (not shared, not atomic).
        states = []
        for name, (rate, burst) in buckets:
            tokens, at = cache.get(name, (burst, now))
            states.append((name, rate, burst, min(burst, tokens + (now - at) * rate)))
        allowed = all(tokens >= 1 for *_, tokens in states)
        wait = 0.0
        for name, rate, burst, tokens in states:
            left = tokens - 1 if allowed else tokens
            wait = max(wait, (1 - left) / rate)
            cache.set(name, (left, now), timeout=int(burst / rate) + 60)
        return allowed, wait

    def wait(self) -> float | None:
        return None if self.retry_after_s is None else max(1, math.ceil(self.retry_after_s))
