"""Reads of monitors and detections for the API, the pages and the device socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from catalog.models import Track
from portal.spreadsheets import csv_line_writer, spreadsheet_cell
from recognition.monitors.models import Detection, DetectionDispute, Monitor
from recognition.monitors.periods import Period
from recognition.services.webhooks import detection_payload

__all__ = [
    "detection_detail",
    "detection_evidence_for",
    "detection_summary",
    "detection_trail",
    "detections_filter_choices",
    "detections_find",
    "detections_of",
    "detections_rows",
    "detections_today",
    "detections_today_of",
    "detections_visible_to",
    "heard_recently",
    "monitor_for_device",
    "monitor_summary",
    "monitors_visible_to",
    "play_log",
    "play_log_csv",
    "play_log_filename",
    "play_log_row",
]


def _start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def monitors_visible_to(user) -> QuerySet[Monitor]:
    """Monitors a user may see: their own, or everyone's for staff; each with `detections_today`."""
    monitors = Monitor.objects.select_related("owner").annotate(
        detections_today=Count("detections", filter=Q(detections__started_at__gte=_start_of_today()))
    )
    if not user.is_authenticated:
        return monitors.none()
    return monitors if user.sees_whole_catalog else monitors.filter(owner=user)


def detections_of(monitor: Monitor, *, since: datetime | None = None) -> QuerySet[Detection]:
    """A monitor's detections, newest first; with `since`, only those started or changed since then."""
    detections = Detection.objects.filter(monitor=monitor)
    if since is not None:
        detections = detections.filter(Q(updated_at__gte=since) | Q(started_at__gte=since))
    return detections.order_by("-started_at", "-id")


def detections_rows(monitor: Monitor) -> Iterator[Detection]:
    """Every detection of a monitor, oldest first, read in chunks (the CSV export streams them)."""
    return Detection.objects.filter(monitor=monitor).order_by("started_at", "id").iterator(chunk_size=2000)


def detections_today_of(monitor: Monitor) -> int:
    return Detection.objects.filter(monitor=monitor, started_at__gte=_start_of_today()).count()


def detections_today(monitor_id: int) -> int:
    return Detection.objects.filter(monitor_id=monitor_id, started_at__gte=_start_of_today()).count()


def detection_evidence_for(user, detection_id: int) -> Detection | None:
    """A detection whose evidence `user` may hear: the monitor's owner, the track's rights holder,
    or staff; None for anyone else (and for a detection without evidence)."""
    if not user.is_authenticated:
        return None
    detections = Detection.objects.select_related("monitor", "track").exclude(evidence="")
    if not user.sees_whole_catalog:
        detections = detections.filter(Q(monitor__owner=user) | Q(track__owner=user))
    return detections.filter(pk=detection_id).first()


def monitor_for_device(monitor_id: int) -> Monitor | None:
    """The device monitor a socket names, fresh from the database (its token may have changed)."""
    return Monitor.objects.filter(pk=monitor_id, kind=Monitor.Kind.DEVICE).first()


def heard_recently(monitor: Monitor, *, within_s: float = 90.0) -> float:
    """Seconds of audio heard in the last minute, or 0 when the worker's last report is stale."""
    if monitor.heard_at is None or timezone.now() - monitor.heard_at > timedelta(seconds=within_s):
        return 0.0
    return monitor.heard_last_minute_s


def monitor_summary(monitor: Monitor, *, device_token: str = "") -> dict:
    """The JSON of a monitor, as the API and the pages' status endpoint show it."""
    today = getattr(monitor, "detections_today", None)  # annotated by monitors_visible_to
    body = {
        "id": monitor.pk,
        "name": monitor.name,
        "kind": monitor.kind,
        "source_url": monitor.source_url,
        "state": monitor.state,
        "state_reason": monitor.state_reason,
        "paused": monitor.paused,
        "heard_last_minute_s": heard_recently(monitor),
        "detections_today": today if today is not None else detections_today_of(monitor),
        "created_at": monitor.created_at.isoformat(),
        "url": reverse("api:monitor", args=[monitor.pk]),
        "detections_url": reverse("api:monitor_detections", args=[monitor.pk]),
    }
    if monitor.kind == Monitor.Kind.DEVICE:
        body["device_socket_path"] = f"/ws/monitors/{monitor.pk}/device"
    if device_token:
        body["device_token"] = device_token
    return body


def detection_summary(detection: Detection) -> dict:
    """The JSON of a detection: the webhook payload, its last change and where its evidence is."""
    body = detection_payload(detection)
    body["updated_at"] = detection.updated_at.isoformat()
    body["evidence_url"] = reverse("api:detection_evidence", args=[detection.pk]) if detection.evidence else None
    body["disputed"] = detection.disputed
    return body


def detections_visible_to(user) -> QuerySet[Detection]:
    """Detections a user may see: those of their monitors and those of their tracks (a rights holder
    sees the monitor's name and times, never its URL, token or owner); everyone's for staff."""
    detections = Detection.objects.select_related("monitor", "track")
    if not user.is_authenticated:
        return detections.none()
    if user.sees_whole_catalog:
        return detections
    return detections.filter(Q(monitor__owner=user) | Q(track__owner=user))


def detections_find(
    user, *, track_id: int | None = None, monitor_id: int | None = None, period: Period | None = None
) -> QuerySet[Detection]:
    """The detections `user` may see, newest first, narrowed to a track, a monitor and a period
    (by when each play started)."""
    detections = detections_visible_to(user)
    if track_id is not None:
        detections = detections.filter(track_id=track_id)
    if monitor_id is not None:
        detections = detections.filter(monitor_id=monitor_id)
    if period is not None and period.start is not None:
        detections = detections.filter(started_at__gte=period.start)
    if period is not None and period.end is not None:
        detections = detections.filter(started_at__lt=period.end)
    return detections.order_by("-started_at", "-id")


def detections_filter_choices(user, *, limit: int = 500) -> dict[str, list[tuple[int, str]]]:
    """The monitors and tracks the detections page offers as filters: those the user's visible
    detections could name (an EXISTS per row, on the detection indexes)."""
    visible = detections_visible_to(user)
    monitors = Monitor.objects.filter(Exists(visible.filter(monitor=OuterRef("pk")))).order_by("name", "id")
    tracks = Track.objects.filter(Exists(visible.filter(track=OuterRef("pk")))).order_by("title", "id")
    return {
        "monitors": list(monitors.values_list("id", "name")[:limit]),
        "tracks": list(tracks.values_list("id", "title")[:limit]),
    }


def _trail_role(dispute: DetectionDispute, detection: Detection) -> str:
    if dispute.user_id is None:
        return ""
    if dispute.user_id == detection.monitor.owner_id:
        return "monitor_owner"
    if detection.track is not None and dispute.user_id == detection.track.owner_id:
        return "rights_holder"
    return "staff" if dispute.user is not None and dispute.user.sees_whole_catalog else ""


def detection_trail(detection: Detection, viewer) -> list[dict]:
    """The detection's audit trail, oldest first: action, reason, when, and who, by role and name.

    The name of the monitor's owner is shown only to that owner and to staff: to a rights holder
    the entry says "monitor_owner" and no more (they never learn who runs a monitor)."""
    trail = []
    for dispute in detection.disputes.select_related("user").order_by("created_at", "id"):
        role = _trail_role(dispute, detection)
        hidden = role == "monitor_owner" and viewer.pk != detection.monitor.owner_id and not viewer.sees_whole_catalog
        trail.append(
            {
                "action": dispute.action,
                "reason": dispute.reason,
                "created_at": dispute.created_at.isoformat(),
                "by": role,
                "user": None if hidden or dispute.user is None else dispute.user.username,
            }
        )
    return trail


def detection_detail(detection: Detection, viewer) -> dict:
    """The JSON of one detection for someone who may see it: the monitor's log row, the monitor's
    name, whether it was found retroactively or is disputed, and its audit trail."""
    body = detection_summary(detection)
    body["monitor_name"] = detection.monitor.name
    body["retroactive"] = detection.retroactive
    body["disputed"] = detection.disputed
    body["url"] = reverse("api:detection", args=[detection.pk])
    body["disputes"] = detection_trail(detection, viewer)
    return body


def play_log(monitor: Monitor, period: Period) -> QuerySet[Detection]:
    """A monitor's plays in a period, oldest first, disputed ones left out: the cue sheet."""
    plays = Detection.objects.filter(monitor=monitor, disputed=False).select_related("track__album")
    if period.start is not None:
        plays = plays.filter(started_at__gte=period.start)
    if period.end is not None:
        plays = plays.filter(started_at__lt=period.end)
    return plays.order_by("started_at", "id")


def play_log_row(play: Detection) -> dict:
    """One cue-sheet line: when, what (title and artist as heard, album and ISRC from the catalog),
    for how long, and how fast when the play's speed is reported (Detection.reported_speed)."""
    track = play.track
    return {
        "detection_id": play.pk,
        "started_at": play.started_at.isoformat(),
        "ended_at": play.ended_at.isoformat(),
        "track_id": play.track_id,
        "title": play.title,
        "artist": play.artist,
        "album": track.album.title if track is not None and track.album is not None else "",
        "isrc": track.isrc if track is not None else "",
        "played_s": round(play.duration_s, 1),
        "open": play.open,
        "speed": play.reported_speed,
    }


PLAY_LOG_CSV_FIELDS = [
    "started_at", "ended_at", "title", "artist", "album", "isrc", "played_s", "track_id", "detection_id", "speed",
]  # fmt: skip


def play_log_csv(monitor: Monitor, period: Period) -> Iterator[str]:
    """The play log as CSV lines, header first, read in chunks (the page's export and the API's
    `format=csv` stream them)."""
    writer = csv_line_writer()
    yield writer.writerow(PLAY_LOG_CSV_FIELDS)
    for play in play_log(monitor, period).iterator(chunk_size=2000):
        row = play_log_row(play)
        for name in ("title", "artist", "album"):
            row[name] = spreadsheet_cell(row[name])
        row["track_id"] = "" if row["track_id"] is None else row["track_id"]
        row["speed"] = "" if row["speed"] is None else row["speed"]
        yield writer.writerow([row[name] for name in PLAY_LOG_CSV_FIELDS])


def play_log_filename(monitor: Monitor, period: Period) -> str:
    first, last = period.first_day(), period.last_day()
    span = f"-{first:%Y%m%d}-{last:%Y%m%d}" if first and last else ""
    return f"monitor-{monitor.pk}-play-log{span}.csv"
