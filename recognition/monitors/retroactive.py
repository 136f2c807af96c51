"""Retroactive scans: tracks added to the catalog, searched for in what every monitor retained.

When a track's reference is written (recognition/services/ingest.py), `retroactive_scan_request`
adds a RetroactiveScan row in the same transaction and, after commit, queues `scan_retained`.
The task takes every waiting track at once and searches each monitor's retained minutes for
them (recognition/engine/monitoring/history.py): each play found that no detection of the same
monitor and track overlaps becomes a closed detection with `retroactive=True`, and the owner's
webhooks hear `detection.retroactive`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.tasks import task
from django.utils import timezone

from recognition import selectors as recognition_selectors
from recognition.engine import Sighting
from recognition.engine.monitoring import history
from recognition.monitors.models import Detection, Monitor, RetainedMinute, RetroactiveScan
from recognition.store import PostgresIndex

__all__ = [
    "ScanResult",
    "retroactive_scan",
    "retroactive_scan_request",
    "retroactive_scans_due",
    "retroactive_scans_requeue",
    "scan_retained",
]

log = logging.getLogger("earshot.monitors")

# Consecutive minutes of one connection are one stretch of audio when their clock times agree
# to within this (seconds): the worker's clock moves by far less between two minutes.
CONTIGUOUS_S = 2.0


def retroactive_scan_request(*, track_id: int) -> None:
    """Ask for a scan of the monitors' retained history for a track whose reference is being
    written, in the caller's transaction; the scan is queued once it commits."""
    RetroactiveScan.objects.get_or_create(track_id=track_id)
    transaction.on_commit(_enqueue)


def _enqueue() -> None:
    scan_retained.enqueue()


@dataclass(frozen=True)
class _Stretch:
    """Consecutive retained minutes of one connection: their clock times and packed peaks."""

    started_at: list[datetime]
    blobs: list[bytes]

    def at(self, stream_s: float) -> datetime:
        """The UTC time of a second of the stretch, on the clock of the minute it falls in."""
        minute = min(max(int(stream_s // 60), 0), len(self.started_at) - 1)
        return self.started_at[minute] + timedelta(seconds=stream_s - 60.0 * minute)


def _stretches(monitor_id: int):
    """The monitor's retained minutes as stretches of contiguous audio, oldest first."""
    rows = (
        RetainedMinute.objects.filter(monitor_id=monitor_id)
        .order_by("started_at", "id")
        .values_list("started_at", "stream_minute", "peaks")
        .iterator(chunk_size=500)
    )
    times: list[datetime] = []
    blobs: list[bytes] = []
    last_minute = -1
    for started_at, minute, peaks in rows:
        contiguous = (
            times and minute == last_minute + 1 and abs((started_at - times[-1]).total_seconds() - 60.0) <= CONTIGUOUS_S
        )
        if times and not contiguous:
            yield _Stretch(times, blobs)
            times, blobs = [], []
        times.append(started_at)
        blobs.append(bytes(peaks))
        last_minute = minute
    if times:
        yield _Stretch(times, blobs)


@dataclass(frozen=True)
class ScanResult:
    tracks: list[int]
    monitors: int
    minutes: int
    detections: list[int]


def retroactive_scan(*, track_ids: list[int], monitor_ids: list[int] | None = None) -> ScanResult:
    """Search every monitor's retained history (or these monitors') for these tracks; write what
    is found."""
    ready = list(recognition_selectors.track_summaries(track_ids))  # tracks deleted since are skipped
    index = PostgresIndex()
    catalog = index.track_count()
    created: list[int] = []
    monitors = minutes = 0
    monitors_with_history = Monitor.objects.filter(retained_minutes__isnull=False).distinct()
    if monitor_ids is not None:
        monitors_with_history = monitors_with_history.filter(pk__in=monitor_ids)
    for monitor in monitors_with_history:
        monitors += 1
        for stretch in _stretches(monitor.pk):
            minutes += len(stretch.blobs)
            for sighting in history.search(index, ready, stretch.blobs, catalog_tracks=catalog):
                detection = _record(monitor, sighting, stretch)
                if detection is not None:
                    created.append(detection.pk)
    return ScanResult(sorted(ready), monitors, minutes, created)


def _record(monitor: Monitor, sighting: Sighting, stretch: _Stretch) -> Detection | None:
    """A retroactive detection of a play, unless a detection of the monitor and track overlaps it."""
    summary = recognition_selectors.track_summaries([sighting.track_id]).get(sighting.track_id)
    if summary is None:
        return None
    started_at, ended_at = stretch.at(sighting.start_s), stretch.at(sighting.end_s)
    ended_at = max(ended_at, started_at)
    with transaction.atomic():
        overlapping = Detection.objects.filter(
            monitor=monitor, track_id=sighting.track_id, started_at__lte=ended_at, ended_at__gte=started_at
        )
        if overlapping.exists():
            return None
        detection = Detection.objects.create(
            monitor=monitor,
            track_id=sighting.track_id,
            title=summary["title"][:255],
            artist=summary.get("artist", "")[:255],
            started_at=started_at,
            ended_at=ended_at,
            offset_start_s=round(sighting.offset_start_s, 2),
            offset_end_s=round(sighting.offset_end_s, 2),
            confidence=round(sighting.confidence, 4),
            speed=sighting.speed,
            open=False,
            retroactive=True,
        )
        transaction.on_commit(functools.partial(_notify, detection.pk))
    return detection


def _notify(detection_id: int) -> None:
    from recognition.services.webhooks import webhooks_notify_detection

    webhooks_notify_detection(detection_id=detection_id, event="detection.retroactive")


# One scan at a time over the whole installation, by a session-level PostgreSQL advisory lock
# (released with the connection if its process dies): two scans of one track could each find a
# play before the other had written it. A scan holds no transaction: each detection commits as it
# is found (visible within seconds), and a scan that dies leaves its tracks waiting.
SCAN_LOCK_KEY = "earshot.monitors.retroactive_scan"
# Tracks waiting longer than this (seconds) are queued again by the monitor worker's housekeeping:
# their scan died, or its task was lost.
STALE_SCAN_S = 600.0


@contextlib.contextmanager
def _scan_lock() -> Iterator[bool]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [SCAN_LOCK_KEY])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [SCAN_LOCK_KEY])


def retroactive_scans_due() -> ScanResult | None:
    """Scan for every waiting track at once, then for those that arrived meanwhile; None when another
    process is scanning (it takes what waits once its own pass is over) or nothing waits."""
    done: list[ScanResult] = []
    # After the lock is released, look again: a track whose task found the lock held arrived
    # before this look, and is scanned by this process or by the one that holds the lock next.
    while RetroactiveScan.objects.exists():
        with _scan_lock() as held:
            if not held:
                break
            waiting = list(RetroactiveScan.objects.values_list("pk", "track_id"))
            done.append(retroactive_scan(track_ids=[track for _, track in waiting]))
            # Only now: a scan that dies first leaves them waiting (a scan again adds no duplicate).
            RetroactiveScan.objects.filter(pk__in=[pk for pk, _ in waiting]).delete()
    if not done:
        return None
    return ScanResult(
        tracks=sorted({t for r in done for t in r.tracks}),
        monitors=max(r.monitors for r in done),
        minutes=sum(r.minutes for r in done),
        detections=[d for r in done for d in r.detections],
    )


def retroactive_scans_requeue() -> bool:
    """Queue a scan again when tracks have waited past STALE_SCAN_S (their scan died or its task
    was lost); whether one was queued."""
    stale = timezone.now() - timedelta(seconds=STALE_SCAN_S)
    if not RetroactiveScan.objects.filter(requested_at__lt=stale).exists():
        return False
    _enqueue()
    return True


@task()
def scan_retained() -> list[int]:
    """Run the waiting retroactive scans in the background worker (`manage.py db_worker`);
    return the detections made."""
    result = retroactive_scans_due()
    if result is None:
        return []
    log.info(
        "retroactive scan: tracks %s over %d minutes of %d monitors: %d detections",
        result.tracks, result.minutes, result.monitors, len(result.detections),
    )  # fmt: skip
    return result.detections
