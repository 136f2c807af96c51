"""How much each API key is used: counted in Redis per request, added to daily rows in batches.

A request made with a key costs one pipelined Redis round trip (two HINCRBYs and an EXPIRE on
the day's hash), never a database write; `usage_flush` (the requeuer runs it every minute) moves
the counts into `ApiKeyUsageDay` rows, one upsert for every key and day at once. What has not
been flushed yet is read straight from Redis (`usage_pending`), so the console's figures are
current. Without Redis (one local process) each request adds to its row at once.

Layout: one hash a day, `earshot:key-usage:<YYYY-MM-DD>`, fields `<key prefix>:requests` and
`<key prefix>:errors` (the prefix is the key's public, unique first part).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ApiKey
from portal.ratelimit import redis_client

__all__ = ["KEPT_DAYS", "usage_flush", "usage_pending", "usage_record"]

log = logging.getLogger(__name__)

# The console shows 14 days; a day's hash outlives that by a margin, so counts that no flush
# moved (no requeuer running) are still there to read.
KEPT_DAYS = 16
_FIELDS = ("requests", "errors")
# Every (key, day) row at once. A key deleted between the lookup of the ids and this statement
# fails the foreign key: usage_flush puts the counts back, and the next flush drops that key's.
_ADD_SQL = """
    INSERT INTO accounts_apikeyusageday (api_key_id, day, requests, errors)
    SELECT * FROM unnest(%s::varchar[], %s::date[], %s::integer[], %s::integer[])
    ON CONFLICT (api_key_id, day) DO UPDATE
    SET requests = accounts_apikeyusageday.requests + EXCLUDED.requests,
        errors = accounts_apikeyusageday.errors + EXCLUDED.errors
"""


def _day_key(day: dt.date) -> str:
    return f"earshot:key-usage:{day.isoformat()}"


def _today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def usage_record(*, prefix: str, failed: bool) -> None:
    """Count one request made with the key of `prefix` today, and whether it failed (4xx or 5xx)."""
    client = redis_client()
    day = _today()
    if client is None:
        _add_to_rows({(prefix, day): {"requests": 1, "errors": int(failed)}})
        return
    key = _day_key(day)
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(key, f"{prefix}:requests", 1)
    if failed:
        pipe.hincrby(key, f"{prefix}:errors", 1)
    pipe.expire(key, KEPT_DAYS * 86400)
    pipe.execute()


def usage_pending(*, prefixes: Iterable[str], days: Iterable[dt.date]) -> dict[tuple[str, dt.date], dict[str, int]]:
    """Counts still in Redis (not flushed yet) of these keys on these days: {(prefix, day): {requests, errors}}."""
    client = redis_client()
    prefixes, days = list(prefixes), list(days)
    if client is None or not prefixes or not days:
        return {}
    fields = [f"{prefix}:{name}" for prefix in prefixes for name in _FIELDS]
    pipe = client.pipeline(transaction=False)
    for day in days:
        pipe.hmget(_day_key(day), fields)
    pending: dict[tuple[str, dt.date], dict[str, int]] = {}
    for day, values in zip(days, pipe.execute(), strict=True):
        for field, value in zip(fields, values, strict=True):
            if value is not None:
                prefix, name = field.rsplit(":", 1)
                pending.setdefault((prefix, day), {"requests": 0, "errors": 0})[name] = int(value)
    return pending


def usage_flush() -> int:
    """Move the counts in Redis into the daily rows; return how many (key, day) rows changed.

    Each day's hash is read and deleted in one MULTI, so two flushes running at once never add
    the same counts twice; if the database write fails, the counts are put back for the next one.
    """
    client = redis_client()
    if client is None:
        return 0
    today = _today()
    taken: dict[tuple[str, dt.date], dict[str, int]] = defaultdict(lambda: {"requests": 0, "errors": 0})
    for offset in range(KEPT_DAYS):
        day = today - dt.timedelta(days=offset)
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(_day_key(day))
        pipe.delete(_day_key(day))
        counts, _ = pipe.execute()
        for field, value in counts.items():
            prefix, name = field.decode().rsplit(":", 1)
            if name in _FIELDS:
                taken[(prefix, day)][name] += int(value)
    if not taken:
        return 0
    try:
        return _add_to_rows(taken)
    except Exception:
        _give_back(client, taken)
        raise


def _give_back(client, taken: dict[tuple[str, dt.date], dict[str, int]]) -> None:
    pipe = client.pipeline(transaction=False)
    for (prefix, day), counts in taken.items():
        for name, value in counts.items():
            if value:
                pipe.hincrby(_day_key(day), f"{prefix}:{name}", value)
        pipe.expire(_day_key(day), KEPT_DAYS * 86400)
    pipe.execute()


def _add_to_rows(counts: dict[tuple[str, dt.date], dict[str, int]]) -> int:
    """Add counts to the (key, day) rows in one upsert; counts of keys deleted meanwhile are dropped."""
    ids = dict(ApiKey.objects.filter(prefix__in={prefix for prefix, _ in counts}).values_list("prefix", "id"))
    rows = [(ids[prefix], day, c["requests"], c["errors"]) for (prefix, day), c in counts.items() if prefix in ids]
    if not rows:
        return 0
    key_ids, days, requests, errors = (list(column) for column in zip(*rows, strict=True))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_ADD_SQL, [key_ids, days, requests, errors])
    return len(rows)
