"""Which worker runs which monitor: leases in PostgreSQL, no other coordinator.

A worker takes monitors with `SELECT … FOR UPDATE SKIP LOCKED` (two workers never take the same
row, and neither waits for the other), renews its leases with a heartbeat, and gives them back on
shutdown. Every time is the database's clock, so workers on machines whose clocks disagree still
agree on who holds what. A lease not renewed for `EARSHOT_MONITOR_LEASE_S` is free to take
(docs/decisions.md, EARSHOT_MONITOR_LEASE_S).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from recognition.monitors.models import Monitor

__all__ = ["leases_release", "leases_renew", "leases_take"]


def _lease_s() -> timedelta:
    return timedelta(seconds=settings.EARSHOT_MONITOR_LEASE_S)


@transaction.atomic
def leases_take(*, worker_id: str, limit: int) -> list[int]:
    """Take up to `limit` monitors nobody holds (or whose holder stopped renewing); return their ids.

    Paused monitors are left alone; failed ones are tried again every
    `EARSHOT_MONITOR_FAILED_RETRY_S` (a station that was down at 3 a.m. comes back).
    """
    if limit <= 0:
        return []
    retry_failed = timedelta(seconds=settings.EARSHOT_MONITOR_FAILED_RETRY_S)
    free = Q(lease_owner="") | Q(lease_expires_at__lt=Now())
    ids = list(
        Monitor.objects.select_for_update(skip_locked=True)
        .filter(free, paused=False)
        .exclude(state=Monitor.State.FAILED, state_changed_at__gt=Now() - retry_failed)
        .order_by("lease_expires_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    if ids:
        Monitor.objects.filter(id__in=ids).update(lease_owner=worker_id, lease_expires_at=Now() + _lease_s())
    return ids


def leases_renew(*, worker_id: str, monitor_ids: list[int]) -> set[int]:
    """Renew this worker's leases; return the ids it still holds (paused or deleted ones drop out)."""
    if not monitor_ids:
        return set()
    held = Monitor.objects.filter(id__in=monitor_ids, lease_owner=worker_id, paused=False)
    held.update(lease_expires_at=Now() + _lease_s())
    return set(held.values_list("id", flat=True))


def leases_release(*, worker_id: str, monitor_ids: list[int]) -> int:
    """Give leases back (a clean shutdown): another worker may take them at once."""
    return Monitor.objects.filter(id__in=monitor_ids, lease_owner=worker_id).update(
        lease_owner="", lease_expires_at=None
    )
