"""Reads of monitors and detections for the API, the pages and the device socket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from recognition.monitors.models import Detection, Monitor
from recognition.services.webhooks import detection_payload

__all__ = [
    "detection_evidence_for",
    "detection_summary",
    "detections_of",
    "detections_rows",
    "detections_today",
    "detections_today_of",
    "heard_recently",
    "monitor_for_device",
    "monitor_summary",
    "monitors_visible_to",
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
    return body
