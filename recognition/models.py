"""Recognition data: the stored landmarks (triplet rows, pair lists), frame sketches, and the recognitions asked for."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.storage import RandomKey


class TripletRow(models.Model):
    """One stored triplet hash of a reference track: the index stage 1 of a lookup searches.

    The layout is chosen for size and for the lookup: the composite primary key (hash, offset,
    track) is the only index a lookup needs (an index-only scan returns every column) and keeps a
    track's rows distinct; with the 4-byte offset before the 8-byte track id its entries need no
    padding (24 bytes, not 32: migration 0004). The foreign key to the track is declared in the
    migration with ON DELETE CASCADE, so PostgreSQL deletes a track's rows in the statement that
    deletes the track, whichever way it is deleted (admin, API, ORM), instead of Django loading
    millions of rows to delete them one by one. Django's own on_delete is therefore DO_NOTHING.
    All reads and writes go through recognition.store.
    """

    pk = models.CompositePrimaryKey("hash", "offset_frames", "track")
    hash = models.IntegerField()
    track = models.ForeignKey("catalog.Track", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    offset_frames = models.IntegerField()

    class Meta:
        db_table = "recognition_fingerprint"

    def __str__(self) -> str:
        return f"{self.hash:#08x}@{self.offset_frames} in track {self.track_id}"


class PairList(models.Model):
    """All pair hashes of one reference track, in one value: what stage 2 of a lookup reads.

    Pairs are only ever looked up in a few candidate tracks, so they need no index by hash: a
    row per track holds them packed (8 bytes each, compressed by PostgreSQL), where a row per
    hash cost ~100 bytes with its index entries. Cascade as for TripletRow; layout and packing
    live in recognition.store.
    """

    track = models.OneToOneField(
        "catalog.Track", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    packed = models.BinaryField()

    class Meta:
        db_table = "recognition_pairlist"

    def __str__(self) -> str:
        return f"{len(self.packed) // 8} pairs of track {self.track_id}"


class FrameSketch(models.Model):
    """A reference track's frame sketches (recognition/engine/sketch/), 2 bytes a frame, in one value:
    what the check of a proposed alignment reads, a slice at a time.

    Stored uncompressed (migration 0007): the bits look random and would not compress, and an
    uncompressed value can be read in slices without reading all of it. Cascade as for
    TripletRow; layout and reads live in recognition.store.
    """

    track = models.OneToOneField(
        "catalog.Track", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    frames = models.BinaryField()

    class Meta:
        db_table = "recognition_framesketch"

    def __str__(self) -> str:
        return f"{len(self.frames) // 2} frame sketches of track {self.track_id}"


class TripletWrite(models.Model):
    """One write of a track's triplet rows, with the writing transaction's id.

    Each process keeps a filter of the triplet values stored (recognition.store) and learns
    from these rows which tracks were written since it last looked. Cascade as for TripletRow.
    """

    track = models.ForeignKey("catalog.Track", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    xid = models.BigIntegerField(db_index=True)  # pg_current_xact_id() of the ingest

    class Meta:
        db_table = "recognition_tripletwrite"

    def __str__(self) -> str:
        return f"triplets of track {self.track_id} written by transaction {self.xid}"


class Recognition(models.Model):
    """One recognition a person or partner asked for: what was heard, what it matched, how fast.

    The microphone page, uploads and the API all record here (`source`). A clip has one match
    (`track`, `offset_s`, `confidence`, and `speed` and `pitch_semitones` when it was changed); a
    long upload has `segments`, each a track with its time range. Upload jobs go pending ->
    running -> done or failed; live recognitions are saved done.
    """

    class Source(models.TextChoices):
        MICROPHONE = "microphone", "Microphone"
        UPLOAD = "upload", "Upload"
        API = "api", "API"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="recognitions"
    )
    source = models.CharField(max_length=12, choices=Source.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The best match (a clip), or the longest-evidenced segment (a long upload).
    track = models.ForeignKey("catalog.Track", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    offset_s = models.FloatField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # How that match was changed from the track, when the engine reports it (from 1 % and half a
    # semitone: recognition/engine/matching/changes.py); null as recorded. Segments carry theirs.
    speed = models.FloatField(null=True, blank=True)
    pitch_semitones = models.FloatField(null=True, blank=True)
    segments = models.JSONField(default=list, blank=True)
    heard_s = models.FloatField("audio heard (s)", null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # Uploads: the media (through Django's storage; deleted after processing unless kept),
    # and the job's bookkeeping. A worker that dies leaves the job "running" with a stale
    # heartbeat; recognition.services.uploads requeues it.
    media = models.FileField(upload_to=RandomKey("uploads"), blank=True, max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    keep_media = models.BooleanField(default=False)
    media_duration_s = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    # When the job was (last) queued, and the django.tasks result id of that task: the requeue
    # sweep leaves a job alone while its task still waits in the queue.
    queued_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "heartbeat_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} recognition {self.id}"

    @property
    def matched(self) -> bool:
        return self.track_id is not None


class Play(models.Model):
    """One time a catalog track was heard in a recognition: a listen, an API clip, or one segment
    of an upload; the ledger the rights holders' reports read (recognition/reports/).

    Written with the recognition it belongs to, in the same transaction (recognition.services.plays),
    and deleted with it. `heard_at` is when the recognition was asked for; an upload's plays share
    it and differ by `start_s`, their place in the recording. `speed` and `pitch_semitones` say
    how the play was changed from the track, as its match or segment reported it; null as heard.
    Who listened or uploaded is only on the recognition, which reports never read. The index
    (track, heard_at) carries `source` and `played_s` so a report reads the index alone.
    """

    recognition = models.ForeignKey(Recognition, on_delete=models.CASCADE, related_name="plays")
    # Indexed by play_track_heard_idx, whose first column it is: a second index would only cost.
    track = models.ForeignKey("catalog.Track", on_delete=models.CASCADE, related_name="+", db_index=False)
    source = models.CharField(max_length=12, choices=Recognition.Source.choices)
    heard_at = models.DateTimeField()
    played_s = models.FloatField()
    start_s = models.FloatField(default=0.0)  # in the recording
    offset_s = models.FloatField(null=True, blank=True)  # in the track, where the play starts
    # The match's reported change (recognition/engine/matching/changes.py), null as recorded:
    # nullable so that a play as heard, most of them, costs nothing and bulk inserts need not name them.
    speed = models.FloatField(null=True, blank=True)
    pitch_semitones = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["heard_at", "id"]
        indexes = [
            models.Index(fields=["track", "heard_at"], include=["source", "played_s"], name="play_track_heard_idx"),
        ]

    def __str__(self) -> str:
        return f"track {self.track_id} heard by {self.source} at {self.heard_at:%Y-%m-%d %H:%M:%S}"


class Webhook(models.Model):
    """A partner's URL that hears when their asynchronous recognitions finish.

    The signing secret is stored encrypted (portal.crypto), never in clear: Earshot must sign
    with it, so a hash would not do; a database dump alone cannot forge deliveries.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret_encrypted = models.TextField(editable=False)
    # After a rotation the old secret also signs, until `previous_secret_until` (receivers switch over).
    previous_secret_encrypted = models.TextField(blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    # Failed attempts since the last delivered one; past EARSHOT_WEBHOOK_DISABLE_AFTER the webhook
    # is switched off and `disabled_reason` says why (the owner switches it on again).
    failures_in_row = models.PositiveIntegerField(default=0)
    disabled_reason = models.CharField(max_length=400, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one webhook, with every attempt's outcome (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # The test event the partner console sends: about nothing, to check a receiver end to end.
    PING = "ping"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # What the event is about: a recognition (`recognition.finished`) or a monitor's detection
    # (`detection.started`, `detection.ended`); a `ping` is about neither.
    recognition = models.ForeignKey(
        Recognition, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    detection = models.ForeignKey(
        "monitors.Detection", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=40, default="recognition.finished")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the next attempt is due; while an attempt runs, the end of its lease (see
    # services.webhooks.webhook_deliver). Set from creation on, so a lost first task is swept up.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "recognition", "event"], name="one_delivery_per_event"),
            models.UniqueConstraint(fields=["webhook", "detection", "event"], name="one_delivery_per_detection_event"),
            models.CheckConstraint(
                name="delivery_is_about_one_thing",
                condition=(models.Q(recognition__isnull=True) ^ models.Q(detection__isnull=True))
                | models.Q(event="ping", recognition__isnull=True, detection__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        about = self.recognition_id or self.detection_id
        return f"{self.event}{f' for {about}' if about else ''} to {self.webhook_id}: {self.status}"
