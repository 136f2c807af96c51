"""Token buckets keyed on who is asking, shared by every server process through Redis.

A `RateLimit` allows `burst` events at once and `per_hour` an hour after that, per key. The key
names what an attacker cannot get for free: a user, a username, or a network (`address_key`
folds an IPv6 address into its /64, the block one subscriber gets). Without Redis (one local
process) the same buckets live in the local cache, neither shared nor atomic.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

__all__ = ["RateLimit", "address_key", "redis_client", "username_key"]

# One atomic step: refill by elapsed time, then take `cost` tokens if there are that many (a
# negative cost gives tokens back, up to the burst). Returns {allowed, seconds until one token}.
TAKE_SCRIPT = """
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 1
if cost > 0 then
  if tokens >= cost then tokens = tokens - cost else allowed = 0 end
else
  tokens = math.min(burst, tokens - cost)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring(math.max(0, (1 - tokens) / rate))}
"""


def address_key(address: str | None) -> str:
    """Return the network an address stands for: IPv4 as is, IPv6 as its /64 (a subscriber
    gets a whole /64, so one address each would give an attacker 2⁶⁴ keys)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def username_key(username: str) -> str:
    """Return a bounded key for a username as typed (case and Unicode forms folded), so one
    account is one key however it is spelled and a 10 KB username is not a 10 KB Redis key."""
    folded = unicodedata.normalize("NFKC", username).strip().casefold()
    return hashlib.sha256(folded.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RateLimit:
    """`burst` events at once per key, refilled at `per_hour` an hour."""

    name: str
    burst: float
    per_hour: float

    @property
    def rate_per_s(self) -> float:
        return self.per_hour / 3600

    def bucket(self, key: str) -> str:
        return f"earshot:ratelimit:{self.name}:{key}"

    def take(self, key: str, cost: float = 1) -> tuple[bool, float]:
        """Spend `cost` tokens of `key`'s bucket if it holds them; return (allowed, seconds
        until the next token)."""
        client = redis_client()
        args = (self.rate_per_s, self.burst, time.time(), cost)
        if client is not None:
            allowed, wait = client.eval(TAKE_SCRIPT, 1, self.bucket(key), *args)
            return bool(allowed), float(wait)
        return self._take_locally(key, *args)

    def give_back(self, key: str) -> None:
        """Return one token to `key`'s bucket (an attempt that turned out not to count)."""
        self.take(key, cost=-1)

    def _take_locally(self, key: str, rate: float, burst: float, now: float, cost: float) -> tuple[bool, float]:
        tokens, at = cache.get(self.bucket(key), (burst, now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)
        allowed = True
        if cost > 0:
            allowed = tokens >= cost
            tokens = tokens - cost if allowed else tokens
        else:
            tokens = min(burst, tokens - cost)
        cache.set(self.bucket(key), (tokens, now), timeout=int(burst / rate) + 60)
        return allowed, max(0.0, (1 - tokens) / rate)


_client_cache: dict[str, Any] = {}  # one redis.Redis, for the current URL


def redis_client():
    """The process's redis.Redis for settings.REDIS_URL (None without Redis); the limiters share it."""
    url = settings.REDIS_URL
    if not url:
        return None
    if url not in _client_cache:
        import redis

        _client_cache.clear()
        _client_cache[url] = redis.Redis.from_url(url)
    return _client_cache[url]
