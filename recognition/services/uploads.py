"""Upload jobs: a creator's audio or video -> every catalog song in it, processed in the background.

An upload is checked at once with ffprobe (a file that is not usable media becomes a failed job
with its reason and is not kept), stored through Django's storage (local or S3) and queued with
`transaction.on_commit`. The worker claims the job, recognises the media window by window with a
heartbeat, and writes all results in one transaction at the end: a worker killed mid-job leaves
the job "running" with a stale heartbeat and no partial results, and `uploads_requeue_stale`
queues it again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.tasks import TaskResultStatus, task
from django.tasks.exceptions import TaskResultDoesNotExist
from django.utils import timezone

from portal.observability import RECOGNITION_LATENCY, RECOGNITIONS
from recognition.engine import audio
from recognition.engine.fingerprint import QUERY
from recognition.models import Recognition
from recognition.services.common import decode_limits, local_copy
from recognition.services.plays import plays_record
from recognition.services.quotas import QuotaExceeded, job_priority, quota_check
from recognition.services.recognize import CLIP_SECONDS, recognize_clip, recognize_file
from recognition.services.webhooks import webhooks_notify

__all__ = [
    "HTTP_STATUS_FOR",
    "MAX_ATTEMPTS",
    "QuotaExceeded",
    "UploadRejected",
    "process_upload",
    "recognition_submit",
    "upload_create",
    "upload_delete",
    "upload_process",
    "uploads_expire_media",
    "uploads_requeue_stale",
]

# A job whose worker has not reported for this long is presumed dead (heartbeats come with every
# minute of audio looked up and every minute of windows retried at other speeds, seconds of work).
STALE_AFTER = timedelta(minutes=2)
# The most a running job's progress says: 100 % means its results are saved (_finish), and the
# engine's end still leaves the segments to describe and save.
PROGRESS_BEFORE_SAVED = 0.99
MAX_ATTEMPTS = 3

# What an unusable file answers over HTTP, whichever interface received it.
HTTP_STATUS_FOR = {
    "empty": 400,
    "not_media": 415,
    "no_audio": 415,
    "too_large": 413,
    "too_long": 422,
    "no_signal": 422,
    "decode_failed": 422,
    "timeout": 422,
    "clip_only": 403,
}


class UploadRejected(Exception):
    """An upload refused on arrival; the failed job records why."""

    def __init__(self, recognition: Recognition, code: str, message: str):
        super().__init__(message)
        self.recognition = recognition
        self.code = code
        self.message = message
        self.http_status = HTTP_STATUS_FOR.get(code, 422)


def upload_create(
    *,
    user,
    upload: UploadedFile,
    keep_media: bool = False,
    source: str = Recognition.Source.UPLOAD,
    checked: audio.MediaInfo | None = None,
) -> Recognition:
    """Check, store and queue an upload; raise UploadRejected (with the failed job) if unusable.

    `checked` is the upload's ffprobe description when the caller already has it. Raise
    QuotaExceeded, with nothing stored, when the user is over a quota (recognition.services.quotas).
    """
    quota_check(user=user, size_bytes=upload.size, keep_media=keep_media)
    job = Recognition(
        user=user,
        source=source,
        original_name=Path(upload.name or "upload").name[:255],
        size_bytes=upload.size,
        keep_media=keep_media,
    )
    problem = checked or _check(upload)
    if isinstance(problem, audio.AudioError):
        _fail(job, problem.code, problem.message)
        job.save()
        raise UploadRejected(job, problem.code, problem.message)
    job.media_duration_s = problem.duration_s
    with transaction.atomic():
        if user is not None:
            # One account's uploads pass the quotas one at a time: the count is exact.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            quota_check(user=user, size_bytes=upload.size, keep_media=keep_media)
        job.queued_at = timezone.now()
        job.save()
        job.media.save(job.original_name or "upload", upload, save=True)
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _check(upload: UploadedFile) -> audio.MediaInfo | audio.AudioError:
    """ffprobe the upload: usable media with an audio stream and a duration within the cap."""
    if upload.size is not None and upload.size > settings.EARSHOT_MAX_UPLOAD_BYTES:
        return audio.AudioError("too_large", "The file is larger than the upload limit.")
    try:
        with local_copy(upload) as path:
            return audio.probe_usable(path, max_seconds=settings.EARSHOT_MAX_QUERY_SECONDS, limits=decode_limits())
    except audio.AudioError as error:
        return error


def _enqueue(recognition_id) -> None:
    """Queue the job's task behind its user's earlier waiting jobs (fair between users)."""
    user_id = Recognition.objects.filter(pk=recognition_id).values_list("user_id", flat=True).first()
    priority = job_priority(user_id, job_id=recognition_id)
    result = process_upload.using(priority=priority).enqueue(str(recognition_id))
    Recognition.objects.filter(pk=recognition_id).update(task_id=str(result.id))


def _still_queued(job: Recognition) -> bool:
    """Whether the job's last task still waits in the queue (so queueing it again would duplicate it)."""
    if not job.task_id:
        return False
    try:
        return process_upload.get_result(job.task_id).status == TaskResultStatus.READY
    except (TaskResultDoesNotExist, NotImplementedError):
        return False


def _fail(job: Recognition, code: str, message: str) -> None:
    job.status = Recognition.Status.FAILED
    job.error_code = code
    job.error_message = message[:500]
    job.finished_at = timezone.now()


def upload_process(recognition_id: str) -> str:
    """Run an upload job (the background task's body); return the job's final status."""
    job = _claim(recognition_id)
    if job is None:
        return "skipped"
    started = time.perf_counter()
    try:
        with _media_on_disk(job) as path:
            outcome = recognize_file(
                path, timeline=True, progress=lambda done: _heartbeat(job.pk, min(done, PROGRESS_BEFORE_SAVED))
            )
    except audio.AudioError as error:
        _finish(job, failure=(error.code, error.message))
        return Recognition.Status.FAILED
    except FileNotFoundError:
        _finish(job, failure=("media_missing", "The uploaded file is no longer in storage; please upload it again."))
        return Recognition.Status.FAILED
    best = outcome.match
    job.segments = outcome.segments
    job.track_id = best["track_id"] if best else None
    job.offset_s = best["offset_s"] if best else None
    job.confidence = best["confidence"] if best else None
    job.speed = best["speed"] if best else None
    job.pitch_semitones = best["pitch_semitones"] if best else None
    job.heard_s = outcome.duration_s
    job.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    _finish(job)
    RECOGNITION_LATENCY.labels(job.source).observe(job.latency_ms / 1000)
    RECOGNITIONS.labels(job.source, "match" if job.segments else "no_match").inc()
    return Recognition.Status.DONE


@task()
def process_upload(recognition_id: str) -> str:
    """Run an upload job in the background worker (`manage.py db_worker`)."""
    return upload_process(recognition_id)


def _claim(recognition_id: str) -> Recognition | None:
    """Take the job if nobody else is working on it; count the attempt."""
    with transaction.atomic():
        job = Recognition.objects.select_for_update().filter(pk=recognition_id).first()
        if job is None or job.status in (Recognition.Status.DONE, Recognition.Status.FAILED):
            return None
        now = timezone.now()
        if job.status == Recognition.Status.RUNNING and job.heartbeat_at and now - job.heartbeat_at < STALE_AFTER:
            return None  # alive elsewhere
        if job.attempts >= MAX_ATTEMPTS:
            _fail(job, "gave_up", f"Processing failed {job.attempts} times; the file may be unprocessable.")
            job.save()
            _discard_media(job)
            return None
        job.status = Recognition.Status.RUNNING
        job.attempts += 1
        job.heartbeat_at = now
        job.progress = 0.0
        job.save(update_fields=["status", "attempts", "heartbeat_at", "progress"])
        return job


def _heartbeat(recognition_id, done: float) -> None:
    Recognition.objects.filter(pk=recognition_id).update(heartbeat_at=timezone.now(), progress=round(done, 3))


def _finish(job: Recognition, failure: tuple[str, str] | None = None) -> None:
    """Write every result in one transaction, then drop the media unless it is to be kept."""
    with transaction.atomic():
        if not Recognition.objects.select_for_update().filter(pk=job.pk).exists():  # deleted meanwhile
            transaction.on_commit(lambda: job.media.storage.delete(job.media.name) if job.media.name else None)
            return
        if failure:
            _fail(job, *failure)
            job.segments = []
        else:
            job.status = Recognition.Status.DONE
            job.finished_at = timezone.now()
        job.progress = 1.0
        job.save()
        plays_record(job)
        if job.source == Recognition.Source.API:
            webhooks_notify(job)
        transaction.on_commit(lambda: _discard_media(job))


def _discard_media(job: Recognition) -> None:
    name = job.media.name
    if name and not job.keep_media:
        job.media.storage.delete(name)
        Recognition.objects.filter(pk=job.pk, media=name).update(media="")


@contextlib.contextmanager
def _media_on_disk(job: Recognition) -> Iterator[Path]:
    """A local path to the job's media: the file itself, or a download from remote storage."""
    storage, name = job.media.storage, job.media.name
    if not name or not storage.exists(name):  # discarded or deleted: upload_process says so
        raise FileNotFoundError(name or "the job has no media")
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass  # remote storage (S3): copy it down
    suffix = Path(name).suffix[:10]
    with tempfile.NamedTemporaryFile(suffix=suffix) as local, storage.open(name, "rb") as remote:
        for block in iter(lambda: remote.read(1 << 20), b""):
            local.write(block)
        local.flush()
        os.fsync(local.fileno())
        yield Path(local.name)


def uploads_requeue_stale() -> int:
    """Queue again the jobs whose worker died (stale heartbeat) or whose task was lost; return how many.

    A job whose task still waits in the queue is left alone, however long it has waited: queueing
    it again would run it twice. Rows are locked (skipping those another sweep holds) and stamped
    `queued_at` in the same transaction, so two sweeps at once cannot both queue a job.
    """
    now = timezone.now()
    stale = Recognition.objects.filter(
        Q(status=Recognition.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
        | (
            Q(status=Recognition.Status.PENDING, created_at__lt=now - 5 * STALE_AFTER)
            & (Q(queued_at__isnull=True) | Q(queued_at__lt=now - 5 * STALE_AFTER))
        )
    )
    requeued = []
    with transaction.atomic():
        for job in stale.select_for_update(skip_locked=True).only("pk", "task_id", "status"):
            if _still_queued(job):
                continue
            Recognition.objects.filter(pk=job.pk).update(status=Recognition.Status.PENDING, queued_at=now)
            requeued.append(job.pk)
            transaction.on_commit(functools.partial(_enqueue, job.pk))
    return len(requeued)


def upload_delete(*, job: Recognition) -> None:
    """Delete an upload job and its stored media (a running job's results are then dropped)."""
    name, storage = job.media.name, job.media.storage
    with transaction.atomic():
        job.delete()
        if name:
            transaction.on_commit(lambda: storage.delete(name))


def uploads_expire_media() -> int:
    """Delete kept media older than the retention (settings.EARSHOT_UPLOAD_QUOTAS["kept_days"]);
    the jobs and their results stay. Return how many files were deleted."""
    cutoff = timezone.now() - timedelta(days=settings.EARSHOT_UPLOAD_QUOTAS["kept_days"])
    expired = Recognition.objects.filter(keep_media=True, created_at__lt=cutoff).exclude(media="")
    count = 0
    for job in expired.only("pk", "media"):
        name = job.media.name or ""
        job.media.storage.delete(name)
        count += Recognition.objects.filter(pk=job.pk, media=name).update(media="", keep_media=False)
    return count


def recognition_submit(
    *, user, upload: UploadedFile, source: str = Recognition.Source.API, allow_jobs: bool = True
) -> tuple[Recognition, bool]:
    """Recognise a clip now, or queue longer media as a job. Return (recognition, finished now).

    Clips up to CLIP_SECONDS are answered in the request; anything longer (or of unknown length)
    becomes an upload job when `allow_jobs`. Raise UploadRejected for unusable media; the failed
    recognition is kept with its reason.
    """
    started = time.perf_counter()
    job = Recognition(
        user=user, source=source, original_name=Path(upload.name or "clip").name[:255], size_bytes=upload.size
    )
    try:
        # One decode that also describes the file (audio.open_decode): what does not say it is
        # usable media within the cap is refused before a sample is decoded, as _check refuses
        # it. Decide by the audio itself, not by what the header claims: decode one second past
        # the clip limit; what ends before it is a clip, answered now.
        info, samples = _decode_clip(upload)
    except audio.AudioError as error:
        _fail(job, error.code, error.message)
        job.save()
        RECOGNITIONS.labels(source, "error").inc()
        raise UploadRejected(job, error.code, error.message) from None
    job.media_duration_s = info.duration_s
    try:
        heard_s = samples.size / QUERY.sample_rate_hz
        if heard_s > CLIP_SECONDS:
            if not allow_jobs:
                raise audio.AudioError("clip_only", f"This account may send clips of up to {CLIP_SECONDS:.0f} s.")
            return upload_create(user=user, upload=upload, source=source, checked=info), False
        best = recognize_clip(samples)
    except audio.AudioError as error:
        _fail(job, error.code, error.message)
        job.save()
        RECOGNITIONS.labels(source, "error").inc()
        raise UploadRejected(job, error.code, error.message) from None
    job.status = Recognition.Status.DONE
    job.finished_at = timezone.now()
    job.track_id = best["track_id"] if best else None
    job.offset_s = best["offset_s"] if best else None
    job.confidence = best["confidence"] if best else None
    job.speed = best["speed"] if best else None
    job.pitch_semitones = best["pitch_semitones"] if best else None
    job.segments = [_as_segment(best, heard_s)] if best else []
    job.heard_s = round(heard_s, 2)
    job.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    job.progress = 1.0
    with transaction.atomic():
        job.save()
        plays_record(job, new=True)
    RECOGNITION_LATENCY.labels(source).observe(job.latency_ms / 1000)
    RECOGNITIONS.labels(source, "match" if best else "no_match").inc()
    return job, True


def _decode_clip(upload: UploadedFile) -> tuple[audio.MediaInfo, np.ndarray]:
    """An upload's description and its first CLIP_SECONDS + 1 s of audio, from one decode."""
    if upload.size is not None and upload.size > settings.EARSHOT_MAX_UPLOAD_BYTES:
        raise audio.AudioError("too_large", "The file is larger than the upload limit.")
    with local_copy(upload) as path:
        return audio.decode_described(
            path,
            sample_rate_hz=QUERY.sample_rate_hz,
            max_seconds=CLIP_SECONDS + 1,
            max_duration_s=settings.EARSHOT_MAX_QUERY_SECONDS,
            limits=decode_limits(),
        )


def _as_segment(match: dict, duration_s: float) -> dict:
    """A clip's match as the one segment it covers (the same shape long recordings have)."""
    return {**match, "start_s": 0.0, "end_s": round(duration_s, 2)}
