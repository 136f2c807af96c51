"""What monitors keep of what they heard, and for how long: retained minutes and evidence files.

The worker writes each complete minute of a stream's peaks (`retained_minutes_write`); the
worker's housekeeping and `manage.py monitors_prune` delete minutes and evidence files older
than their monitor's `retention_days` (`retention_prune`). Detections themselves stay.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.db.models.functions import Now
from django.utils import timezone

from recognition.monitors.models import Detection, RetainedMinute

__all__ = ["PruneResult", "retained_bytes", "retained_minutes_write", "retention_prune"]


def retained_minutes_write(*, monitor_id: int, minutes: list[tuple[int, bytes]], clock) -> int:
    """Store complete minutes of a monitor's stream, (minute of the connection, packed peaks),
    each timed by the worker's StreamClock; return how many."""
    if not minutes:
        return 0
    RetainedMinute.objects.bulk_create(
        [
            RetainedMinute(monitor_id=monitor_id, started_at=clock.at(60.0 * k), stream_minute=k, peaks=blob)
            for k, blob in minutes
        ]
    )
    return len(minutes)


class PruneResult(NamedTuple):
    minutes: int
    evidence_files: int


def _expiry():
    """Each row's monitor's retention cut-off: now less its retention_days."""
    return ExpressionWrapper(Now() - F("monitor__retention_days") * timedelta(days=1), output_field=DateTimeField())


def retention_prune(*, batch: int = 5000) -> PruneResult:
    """Delete retained minutes and detection evidence files older than their monitor's
    retention_days, a batch at a time (the detections stay, without their excerpt)."""
    minutes = 0
    while True:
        ids = list(
            RetainedMinute.objects.annotate(expires=_expiry())
            .filter(started_at__lt=F("expires"))
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        minutes += RetainedMinute.objects.filter(pk__in=ids).delete()[0]
    files = 0
    while True:
        expired = list(
            Detection.objects.annotate(expires=_expiry())
            .filter(started_at__lt=F("expires"), open=False)
            .exclude(evidence="")
            .values_list("pk", "evidence")[:batch]
        )
        if not expired:
            break
        with transaction.atomic():
            Detection.objects.filter(pk__in=[pk for pk, _ in expired]).update(evidence="", updated_at=timezone.now())
        for _, name in expired:
            default_storage.delete(name)
        files += len(expired)
    return PruneResult(minutes, files)


def retained_bytes(*, monitor_id: int | None = None) -> int:
    """Bytes of packed peaks retained (one monitor's, or every monitor's)."""
    sql = "SELECT coalesce(sum(octet_length(peaks)), 0) FROM monitors_retainedminute"
    params: list[int] = []
    if monitor_id is not None:
        sql += " WHERE monitor_id = %s"
        params.append(monitor_id)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])
