"""Reads of accounts: a user's API keys with how much each was used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import ApiKey, ApiKeyUsageDay, User
from accounts.usage import usage_pending

__all__ = ["DayUsage", "KeyUsage", "api_keys_with_usage"]

USAGE_DAYS = 14


@dataclass(frozen=True)
class DayUsage:
    """One day (UTC) of one key: requests made with it, and how many of them failed (4xx, 5xx)."""

    day: dt.date
    requests: int
    errors: int


@dataclass(frozen=True)
class KeyUsage:
    """A key with its last `len(days)` days, oldest first, and their totals."""

    key: ApiKey
    days: list[DayUsage]

    @property
    def requests(self) -> int:
        return sum(day.requests for day in self.days)

    @property
    def errors(self) -> int:
        return sum(day.errors for day in self.days)

    @property
    def busiest(self) -> int:
        """The most requests of one day (the scale of a per-day chart); 0 when unused."""
        return max((day.requests for day in self.days), default=0)


def api_keys_with_usage(*, user: User, days: int = USAGE_DAYS) -> list[KeyUsage]:
    """A user's API keys, newest first, each with its requests and errors per day of the last
    `days` days (today included): the daily rows plus what Redis holds that no flush moved yet.

    The rows are read before Redis, so a flush that runs in between can only make one reading
    short by what it moved, never count anything twice.
    """
    keys = list(ApiKey.objects.filter(user=user).order_by("-created"))
    today = timezone.now().astimezone(dt.UTC).date()
    span = [today - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    counts: dict[tuple[str, dt.date], list[int]] = {}
    rows = ApiKeyUsageDay.objects.filter(api_key__in=keys, day__gte=span[0]).values_list(
        "api_key__prefix", "day", "requests", "errors"
    )
    for prefix, day, requests, errors in rows:
        counts[(prefix, day)] = [requests, errors]
    for (prefix, day), pending in usage_pending(prefixes=[key.prefix for key in keys], days=span).items():
        held = counts.setdefault((prefix, day), [0, 0])
        held[0] += pending["requests"]
        held[1] += pending["errors"]
    return [KeyUsage(key, [DayUsage(day, *counts.get((key.prefix, day), [0, 0])) for day in span]) for key in keys]
