"""API key usage: counted per request in Redis (no database write), flushed to daily rows, shown."""

import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKeyUsageDay, Role
from accounts.selectors import api_keys_with_usage
from accounts.services import api_key_create
from accounts.usage import usage_flush
from portal.ratelimit import redis_client

pytestmark = pytest.mark.django_db
URL = "/api/v1/recognitions"


@pytest.fixture(autouse=True)
def _generous_throttle(settings):
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}


@pytest.fixture
def partner(make_user):
    return make_user(Role.PARTNER, username="usage-partner")


def _use(api, key: str, ok: int = 0, missing: int = 0, other_scope: int = 0) -> None:
    client = api.as_key(key)
    for _ in range(ok):
        assert client.get(URL).status_code == 200
    for _ in range(missing):
        assert client.get(f"{URL}/{uuid.uuid4()}").status_code == 404
    for _ in range(other_scope):
        assert client.get("/api/v1/tracks").status_code == 403


def _totals(user) -> dict[str, tuple[int, int]]:
    return {usage.key.name: (usage.requests, usage.errors) for usage in api_keys_with_usage(user=user)}


def test_requests_and_errors_are_counted_per_key_without_a_database_write(api, client, partner):
    shop = api_key_create(user=partner, name="shop", scopes=["recognize"])[1]
    bot = api_key_create(user=partner, name="bot")[1]
    with CaptureQueriesContext(connection) as queries:
        _use(api, shop, ok=20, missing=3, other_scope=2)
        _use(api, bot, ok=1)
    assert not any("apikeyusageday" in query["sql"] for query in queries.captured_queries)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split()[0] in {"INSERT", "UPDATE", "DELETE"}]
    # Only the touch of last_used_at, at most once a minute per key, as before the counting.
    assert len(writes) == 2 and all("last_used_at" in sql for sql in writes), writes
    assert _totals(partner) == {"shop": (25, 5), "bot": (1, 0)}
    client.force_login(partner)
    assert client.get(URL).status_code == 200  # the session's requests are nobody's key's
    assert _totals(partner) == {"shop": (25, 5), "bot": (1, 0)}
    days = api_keys_with_usage(user=partner)[0].days
    assert len(days) == 14 and days[-1].day == timezone.now().date() and days[-1].requests == 1


def test_a_flush_moves_the_counts_to_daily_rows_once(api, partner):
    key = api_key_create(user=partner, name="shop")[1]
    _use(api, key, ok=4, missing=1)
    assert usage_flush() == 1
    row = ApiKeyUsageDay.objects.get()
    assert (row.day, row.requests, row.errors) == (timezone.now().date(), 5, 1)
    assert usage_flush() == 0 and ApiKeyUsageDay.objects.get().requests == 5  # nothing counted twice
    assert not redis_client().keys("earshot:key-usage:*")
    _use(api, key, ok=2)
    assert _totals(partner) == {"shop": (7, 1)}  # the row, and what Redis holds since
    call_command("requeue_uploads")  # what runs every minute flushes too
    assert ApiKeyUsageDay.objects.get().requests == 7 and _totals(partner) == {"shop": (7, 1)}


def test_older_days_and_a_deleted_key_are_handled(api, partner):
    live, gone = api_key_create(user=partner, name="live")[0], api_key_create(user=partner, name="gone")[0]
    day = timezone.now().date() - dt.timedelta(days=3)
    redis = redis_client()
    redis.hincrby(f"earshot:key-usage:{day.isoformat()}", f"{live.prefix}:requests", 9)
    redis.hincrby(f"earshot:key-usage:{day.isoformat()}", f"{gone.prefix}:requests", 4)
    gone.delete()
    assert usage_flush() == 1
    assert list(ApiKeyUsageDay.objects.values_list("day", "requests")) == [(day, 9)]
    usage = api_keys_with_usage(user=partner)[0]
    assert usage.requests == 9 and usage.days[-4].requests == 9


def test_without_redis_a_request_adds_to_its_row(api, partner, settings):
    settings.REDIS_URL = ""
    key = api_key_create(user=partner, name="laptop")[1]
    _use(api, key, ok=2, missing=1)
    assert list(ApiKeyUsageDay.objects.values_list("requests", "errors")) == [(3, 1)]
    assert usage_flush() == 0
