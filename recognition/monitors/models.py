"""Monitors and their detections."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from portal.storage import RandomKey
from recognition.engine import reported_change


class Monitor(models.Model):
    """A source Earshot listens to without end: a live stream URL or a venue device.

    Workers take monitors by lease (`lease_owner`, `lease_expires_at`, always compared with the
    database's clock): a worker that dies stops renewing, and another takes its monitors once the
    lease expires (recognition/monitors/leases.py). `state` is what the owner sees; `paused`
    is what the owner asked for.
    """

    class Kind(models.TextChoices):
        STREAM = "stream", "Stream"
        DEVICE = "device", "Device"

    class State(models.TextChoices):
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        RECONNECTING = "reconnecting", "Reconnecting"
        WAITING = "waiting", "Waiting for the device"
        FAILED = "failed", "Failed"
        PAUSED = "paused", "Paused"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="monitors")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STREAM)
    source_url = models.URLField(max_length=500, blank=True)
    # SHA-256 of the device token: the token is shown once, at creation, and can only be replaced.
    device_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    paused = models.BooleanField(default=False)
    state = models.CharField(max_length=15, choices=State.choices, default=State.STARTING)
    state_reason = models.CharField(max_length=300, blank=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heard_at = models.DateTimeField(null=True, blank=True)
    heard_last_minute_s = models.FloatField(default=0.0)
    # Days the monitor keeps what it heard (its fingerprints, for retroactive scans) and the
    # evidence of its detections; the detections themselves stay.
    retention_days = models.PositiveSmallIntegerField(
        default=7, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["lease_expires_at"], name="monitor_lease_idx")]
        constraints = [
            models.CheckConstraint(
                name="monitor_source_fits_kind",
                condition=(Q(kind="stream") & ~Q(source_url="")) | (Q(kind="device") & Q(source_url="")),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Detection(models.Model):
    """One continuous play of a catalog track heard by a monitor.

    Times are the source's wall clock in UTC; offsets are positions in the track. A detection is
    `open` while the track may still be playing; at most one open detection per monitor and track
    (a constraint), so a worker that takes over a monitor continues it instead of adding another.
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="detections")
    # The log outlives the catalog: a deleted track leaves its plays, with the title and artist
    # they were heard as.
    track = models.ForeignKey("catalog.Track", null=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=255)
    artist = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    offset_start_s = models.FloatField()
    offset_end_s = models.FloatField()
    confidence = models.FloatField()
    # The play's speed as measured from how its alignment moved (null until measured); what the
    # interfaces show is `reported_speed`.
    speed = models.FloatField(null=True, blank=True)
    open = models.BooleanField(default=True)
    # Found later, in the monitor's retained history, when the track was added to the catalog.
    retroactive = models.BooleanField(default=False)
    # Marked "not this track" (by the track's rights holder or the monitor's owner): left out of
    # reports and play logs; DetectionDispute keeps who, when and why, and restores undo it.
    disputed = models.BooleanField(default=False)
    evidence = models.FileField(upload_to=RandomKey("monitors/evidence"), blank=True, max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["monitor", "-started_at"], name="detection_monitor_idx"),
            models.Index(fields=["track", "-started_at"], name="detection_track_idx"),
            models.Index(fields=["monitor", "updated_at"], name="detection_updated_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor", "track"], condition=Q(open=True), name="one_open_detection_per_track"
            ),
            models.CheckConstraint(
                name="detection_ends_after_start", condition=Q(ended_at__gte=models.F("started_at"))
            ),
        ]

    def __str__(self) -> str:
        return f"track {self.track_id} on monitor {self.monitor_id} at {self.started_at:%Y-%m-%d %H:%M:%S}"

    @property
    def duration_s(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def reported_speed(self) -> float | None:
        """The speed the API, webhooks, CSV and pages show: null unless it differs from 1 by 1 % or
        more (the engine's rule, recognition/engine/matching/changes.py)."""
        return reported_change(self.speed, None).speed


class DetectionDispute(models.Model):
    """One entry in a detection's audit trail: marked "not this track", or restored.

    Rows are only ever added; the detection's `disputed` flag is the latest entry's action.
    """

    class Action(models.TextChoices):
        DISPUTED = "disputed", "Marked not this track"
        RESTORED = "restored", "Restored"

    detection = models.ForeignKey(Detection, on_delete=models.CASCADE, related_name="disputes")
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["detection", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} on detection {self.detection_id}"


class RetainedMinute(models.Model):
    """A minute of what a monitor heard, kept `retention_days` for retroactive scans: the peaks
    its stream's hashes are made of, packed (recognition/engine/monitoring/history.py).

    `stream_minute` counts the minutes of one connection to the source from 0; consecutive
    minutes of one connection are contiguous audio. `started_at` is the UTC time of the minute's
    first frame on the worker's StreamClock, as the live detections' times are.
    """

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="retained_minutes")
    started_at = models.DateTimeField()
    stream_minute = models.PositiveIntegerField()
    peaks = models.BinaryField()

    class Meta:
        ordering = ["monitor", "started_at", "id"]
        indexes = [models.Index(fields=["monitor", "started_at"], name="retained_monitor_idx")]

    def __str__(self) -> str:
        return f"monitor {self.monitor_id} at {self.started_at:%Y-%m-%d %H:%M}"


class RetroactiveScan(models.Model):
    """A track whose reference was just written, waiting to be searched for in every monitor's
    retained history. Written in the transaction that makes the track ready, so no scan is lost;
    the task that runs takes every waiting track at once (tracks added together, one pass)."""

    track = models.OneToOneField("catalog.Track", on_delete=models.CASCADE, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"scan for track {self.track_id}"
