"""Write paths for monitors and detections: the API, the pages, the admin and the worker call these."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils import timezone

from recognition import selectors as recognition_selectors
from recognition.engine import Sighting
from recognition.monitors import sources
from recognition.monitors.models import Detection, DetectionDispute, Monitor

__all__ = [
    "DisputeRefused",
    "MonitorRefused",
    "detection_dispute",
    "detection_end",
    "detection_extend",
    "detection_may_dispute",
    "detection_restore",
    "detection_start",
    "detections_close_paused",
    "device_token_hash",
    "device_token_rotate",
    "monitor_create",
    "monitor_delete",
    "monitor_heard",
    "monitor_set_state",
    "monitor_update",
]


class MonitorRefused(Exception):
    """A monitor Earshot will not create, with a code for programs and a reason for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def device_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_device_token() -> str:
    return "dev_" + secrets.token_urlsafe(32)


def monitor_create(*, owner, name: str, kind: str = Monitor.Kind.STREAM, source_url: str = "") -> tuple[Monitor, str]:
    """Create a monitor; return it and, for a device, its token (shown only now, else "").

    A stream's URL is checked and probed first (it must resolve to a public address, answer, and
    carry audio ffmpeg can decode), so most bad sources are refused here with their reason.
    """
    name = name.strip()[:100]
    if not name:
        raise MonitorRefused("invalid", "A monitor needs a name.")
    if Monitor.objects.filter(owner=owner).count() >= settings.EARSHOT_MONITORS_PER_USER:
        raise MonitorRefused(
            "quota", f"You have {settings.EARSHOT_MONITORS_PER_USER} monitors, the most an account may have."
        )
    token = ""
    if kind == Monitor.Kind.STREAM:
        allow_private = settings.EARSHOT_MONITOR_PRIVATE_SOURCES
        try:
            sources.source_check(source_url, allow_private=allow_private)
            sources.source_probe(source_url, allow_private=allow_private, timeout_s=8.0)
        except sources.SourceError as refused:
            raise MonitorRefused(refused.code, refused.message) from None
        monitor = Monitor.objects.create(owner=owner, name=name, kind=kind, source_url=source_url)
    elif kind == Monitor.Kind.DEVICE:
        token = _new_device_token()
        monitor = Monitor.objects.create(owner=owner, name=name, kind=kind, device_token_hash=device_token_hash(token))
    else:
        raise MonitorRefused("invalid", "A monitor's kind is `stream` or `device`.")
    return monitor, token


def device_token_rotate(*, monitor: Monitor) -> str:
    """Give a device monitor a new token; the old one stops working at once (open sockets too)."""
    token = _new_device_token()
    monitor.device_token_hash = device_token_hash(token)
    monitor.save(update_fields=["device_token_hash"])
    return token


def monitor_update(*, monitor: Monitor, name: str | None = None, paused: bool | None = None) -> Monitor:
    """Rename, pause or resume. Pausing closes the plays in progress where they were last heard and
    frees the lease at the worker's next heartbeat."""
    fields = []
    if name is not None and name.strip():
        monitor.name = name.strip()[:100]
        fields.append("name")
    if paused is not None and paused != monitor.paused:
        monitor.paused = paused
        monitor.state = Monitor.State.PAUSED if paused else Monitor.State.STARTING
        monitor.state_reason = ""
        monitor.state_changed_at = timezone.now()
        fields += ["paused", "state", "state_reason", "state_changed_at"]
    if fields:
        monitor.save(update_fields=fields)
    if paused:
        for detection in monitor.detections.filter(open=True):
            detection_end(detection=detection)
    return monitor


def monitor_delete(*, monitor: Monitor) -> None:
    """Delete a monitor and its log (and evidence files)."""
    files = [name for name in monitor.detections.exclude(evidence="").values_list("evidence", flat=True) if name]
    monitor.delete()
    if files:
        transaction.on_commit(functools.partial(_delete_files, files))


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)


def monitor_set_state(*, monitor_id: int, worker_id: str, state: str, reason: str = "") -> bool:
    """Record what a source is doing, if this worker still holds the monitor; return whether it did."""
    updated = Monitor.objects.filter(id=monitor_id, lease_owner=worker_id, paused=False).exclude(
        state=state, state_reason=reason[:300]
    )
    return bool(updated.update(state=state, state_reason=reason[:300], state_changed_at=Now()))


def monitor_heard(*, monitor_id: int, worker_id: str, heard_last_minute_s: float) -> None:
    """Note how much audio the monitor heard in the last minute (the list page shows it)."""
    Monitor.objects.filter(id=monitor_id, lease_owner=worker_id).update(
        heard_at=Now(), heard_last_minute_s=round(heard_last_minute_s, 1)
    )


class StreamClock:
    """Where a monitor's stream seconds sit on the wall clock: `origin` is stream second 0.

    A live source cannot deliver a sample before it is on air, so every (arrival time - stream
    seconds received) is a latest possible origin: the burst a server sends on connect, read in
    pieces, moves it back to when that audio was on air. A source may also say when its audio was
    on air (an HLS playlist's reload times or its EXT-X-PROGRAM-DATE-TIME: `bound`), which adds an
    earliest possible origin; the origin is then the middle of what is left. Bounds are kept over
    the last minute only, so a source whose clock runs slower than ours does not drift away from
    it (docs/decisions.md, StreamClock).
    """

    WINDOW_S = 60.0

    def __init__(self, origin: datetime):
        self.origin = origin
        self._latest: datetime = origin  # bounds of the origin, this window and the last
        self._earliest: datetime | None = None
        self._window_latest: datetime = origin
        self._window_earliest: datetime | None = None
        self._window_started = origin

    def observe(self, now: datetime, received_s: float) -> None:
        """Note that `received_s` seconds of stream have arrived by `now`."""
        self.bound(None, now - timedelta(seconds=received_s), now=now)

    def bound(self, earliest: datetime | None, latest: datetime, *, now: datetime) -> None:
        """Note that stream second 0 was on air after `earliest` (if known) and by `latest`."""
        self._window_latest = min(self._window_latest, latest)
        self._latest = min(self._latest, latest)
        if earliest is not None:
            self._window_earliest = max(self._window_earliest or earliest, earliest)
            self._earliest = max(self._earliest or earliest, earliest)
        if (now - self._window_started).total_seconds() >= self.WINDOW_S:
            self._latest, self._earliest = self._window_latest, self._window_earliest
            self._window_started, self._window_latest, self._window_earliest = now, latest, earliest
        if self._earliest is None or self._earliest >= self._latest:  # none, or a source clock ahead of ours
            self.origin = self._latest
        else:
            self.origin = self._earliest + (self._latest - self._earliest) / 2

    def at(self, stream_s: float) -> datetime:
        return self.origin + timedelta(seconds=stream_s)

    def stream_s(self, when: datetime) -> float:
        return (when - self.origin).total_seconds()


def _fields(sighting: Sighting, clock: StreamClock) -> dict:
    return {
        "ended_at": clock.at(sighting.end_s),
        "offset_end_s": round(sighting.offset_end_s, 2),
        "confidence": round(sighting.confidence, 4),
        "speed": sighting.speed,
    }


def detection_start(*, monitor: Monitor, sighting: Sighting, clock: StreamClock) -> Detection:
    """Open a detection for a play the engine is now sure of, and tell the owner's webhooks.

    If an open detection of the same track is already there (left by a worker that died and
    whose play the engine did not get back as a resumed sighting), it is continued, not doubled.
    """
    summary = recognition_selectors.track_summaries([sighting.track_id]).get(sighting.track_id)
    if summary is None:  # deleted while it played
        raise Detection.DoesNotExist(f"track {sighting.track_id} is gone")
    started_at = clock.at(sighting.start_s)
    try:
        with transaction.atomic():
            detection = Detection.objects.create(
                monitor=monitor,
                track_id=sighting.track_id,
                title=summary["title"][:255],
                artist=summary.get("artist", "")[:255],
                started_at=started_at,
                offset_start_s=round(sighting.offset_start_s, 2),
                **_fields(sighting, clock),
            )
            transaction.on_commit(functools.partial(_notify, detection.pk, "detection.started"))
            return detection
    except IntegrityError:
        detection = Detection.objects.get(monitor=monitor, track_id=sighting.track_id, open=True)
        return detection_extend(detection=detection, sighting=sighting, clock=clock)


def detection_extend(*, detection: Detection, sighting: Sighting, clock: StreamClock) -> Detection:
    """Move an open detection's end to what the engine heard last."""
    fields = _fields(sighting, clock)
    fields["ended_at"] = max(fields["ended_at"], detection.started_at)
    for name, value in fields.items():
        setattr(detection, name, value)
    detection.save(update_fields=[*fields, "updated_at"])
    return detection


def detection_end(
    *, detection: Detection, sighting: Sighting | None = None, clock: StreamClock | None = None
) -> Detection:
    """Close a detection (the track stopped); tell the owner's webhooks once."""
    if sighting is not None and clock is not None:
        for name, value in _fields(sighting, clock).items():
            setattr(detection, name, value)
        detection.ended_at = max(detection.ended_at, detection.started_at)
    with transaction.atomic():
        closed = Detection.objects.filter(pk=detection.pk, open=True).update(
            open=False,
            ended_at=detection.ended_at,
            offset_end_s=detection.offset_end_s,
            confidence=detection.confidence,
            speed=detection.speed,
            updated_at=timezone.now(),
        )
        detection.open = False
        if closed:
            transaction.on_commit(functools.partial(_notify, detection.pk, "detection.ended"))
    return detection


def detections_close_paused() -> int:
    """Close plays left open on paused monitors (a runner may write one while it is being stopped)."""
    stale = list(Detection.objects.filter(open=True, monitor__paused=True))
    for detection in stale:
        detection_end(detection=detection)
    return len(stale)


def _notify(detection_id: int, event: str) -> None:
    from recognition.services.webhooks import webhooks_notify_detection

    webhooks_notify_detection(detection_id=detection_id, event=event)


class DisputeRefused(Exception):
    """A dispute or restore Earshot will not record, with a code for programs and a reason for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


DISPUTE_REASON_MAX = 500


def detection_may_dispute(*, detection: Detection, user) -> bool:
    """Whether `user` may dispute or restore `detection`: the monitor's owner, the track's rights
    holder, or staff (the same people who may see it and hear its evidence)."""
    if not user.is_authenticated:
        return False
    if user.sees_whole_catalog or detection.monitor.owner_id == user.pk:
        return True
    return detection.track_id is not None and detection.track is not None and detection.track.owner_id == user.pk


def detection_dispute(*, detection: Detection, user, reason: str) -> Detection:
    """Mark a detection "not this track": it leaves the reports and play logs, and the audit trail
    records who, when and why. Refused without a reason, or when it is already disputed."""
    reason = reason.strip()
    if not reason:
        raise DisputeRefused("invalid", "Say why this is not the track (a reason is required).")
    if len(reason) > DISPUTE_REASON_MAX:
        raise DisputeRefused("invalid", f"A reason is at most {DISPUTE_REASON_MAX} characters.")
    return _detection_set_disputed(detection=detection, user=user, disputed=True, reason=reason)


def detection_restore(*, detection: Detection, user) -> Detection:
    """Undo a dispute: the detection is back in the reports and play logs; the trail keeps both."""
    return _detection_set_disputed(detection=detection, user=user, disputed=False, reason="")


def _detection_set_disputed(*, detection: Detection, user, disputed: bool, reason: str) -> Detection:
    if not detection_may_dispute(detection=detection, user=user):
        raise DisputeRefused("forbidden", "Only the monitor's owner, the track's rights holder and staff may do this.")
    with transaction.atomic():
        # The row lock orders two people disputing (or one disputing, one restoring) at once: the
        # second sees the first's flag, so the trail never holds two disputes in a row.
        current = Detection.objects.select_for_update().only("disputed").get(pk=detection.pk)
        if current.disputed == disputed:
            if disputed:
                raise DisputeRefused("already_disputed", "This detection is already marked not this track.")
            raise DisputeRefused("not_disputed", "This detection is not disputed.")
        DetectionDispute.objects.create(
            detection_id=detection.pk,
            action=DetectionDispute.Action.DISPUTED if disputed else DetectionDispute.Action.RESTORED,
            reason=reason,
            user=user,
        )
        # update(), not save(): the worker may be extending this open detection at the same moment.
        Detection.objects.filter(pk=detection.pk).update(disputed=disputed, updated_at=timezone.now())
    detection.refresh_from_db(fields=["disputed", "updated_at"])
    return detection
