"""Ingest: reference audio -> one catalog track and its hashes, atomically and idempotently."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction

from catalog.models import Album, Artist, FingerprintStatus, Track
from catalog.services import track_lock
from portal.observability import INGEST_SECONDS, INGEST_TRACKS
from recognition import selectors, store
from recognition.engine import audio
from recognition.engine.fingerprint import REFERENCE, Fingerprints, StreamingFingerprinter, merge_fingerprints
from recognition.engine.sketch import StreamingSketch
from recognition.services.common import decode_limits, file_sha256, local_copy

__all__ = [
    "DuplicateRecording",
    "IngestOutcome",
    "ReferenceAudio",
    "reference_fingerprints",
    "reference_from_upload",
    "track_create_from_upload",
    "track_ingest",
    "track_save_reference",
    "tracks_sketch_missing",
]


# A reference shorter than a second, or with fewer hashes than a second of music gives, could
# never be recognised: it is refused rather than stored as a track that cannot match.
MIN_REFERENCE_SECONDS = 1.0
MIN_REFERENCE_HASHES = 10


@dataclass(frozen=True)
class ReferenceAudio:
    """A reference file, decoded, fingerprinted and sketched, ready to store."""

    fingerprints: Fingerprints
    duration_s: float
    tags: dict[str, str]
    sketch: np.ndarray  # uint16 a frame (recognition.engine.sketch)


def reference_fingerprints(path: str | os.PathLike, *, max_seconds: float | None = None) -> ReferenceAudio:
    """Decode, fingerprint and sketch a reference file as it streams out of ffmpeg.

    Raise audio.AudioError when the file is not usable audio: not media, no audio stream, longer
    than the cap, or nothing to fingerprint (silence).
    """
    max_seconds = max_seconds or settings.EARSHOT_MAX_REFERENCE_SECONDS
    limits = decode_limits()
    info = audio.probe_usable(path, max_seconds=max_seconds, limits=limits)
    stream = StreamingFingerprinter(REFERENCE)
    sketcher = StreamingSketch()
    parts = []
    sketches = []
    samples = 0
    for chunk in audio.decode_chunks(
        path, sample_rate_hz=REFERENCE.sample_rate_hz, max_seconds=max_seconds, limits=limits
    ):
        parts.append(stream.push(chunk))
        sketches.append(sketcher.push(chunk))
        samples += chunk.size
    parts.append(stream.finish())
    fingerprints = merge_fingerprints(parts, stream.n_frames)
    duration_s = samples / REFERENCE.sample_rate_hz
    if len(fingerprints) < MIN_REFERENCE_HASHES or duration_s < MIN_REFERENCE_SECONDS:
        raise audio.AudioError(
            "no_signal", "No music could be fingerprinted in this file (is it silent, truncated or too short?)."
        )
    return ReferenceAudio(fingerprints, duration_s, info.tags, np.concatenate(sketches))


@dataclass(frozen=True)
class IngestOutcome:
    status: str  # "added", "duplicate" or "failed"
    track: Track | None = None
    reason: str = ""


def track_ingest(
    *,
    path: str | os.PathLike,
    owner,
    title: str | None = None,
    artist_names: Sequence[str] | None = None,
    album_title: str | None = None,
    isrc: str = "",
    store_audio: bool = True,
) -> IngestOutcome:
    """Add a reference file to the catalog: one track and all its hashes, or nothing.

    The same bytes always give the same track (SHA-256), also when several processes ingest them
    at once. Title, artists and album come from the arguments, else from the file's tags, else
    the title is the file name.
    """
    path = Path(path)
    try:
        digest = file_sha256(path)
    except OSError as error:
        return _counted(IngestOutcome("failed", reason=f"The file cannot be read: {error.strerror}."))
    existing = Track.objects.filter(sha256=digest).first()
    if existing is not None:
        return _counted(IngestOutcome("duplicate", existing))
    try:
        reference = reference_fingerprints(path)
    except audio.AudioError as error:
        return _counted(IngestOutcome("failed", reason=error.message))
    tags = reference.tags
    track = Track(
        owner=owner,
        title=(title or tags.get("title") or path.stem)[:300],
        isrc=isrc or _isrc_from_tags(tags),
    )
    names = list(artist_names) if artist_names else _split_artists(tags.get("artist", ""))
    album = album_title or tags.get("album") or None
    try:
        track = _store_reference(
            track, reference, digest, path if store_audio else None, artist_names=names, album_title=album
        )
    except _AlreadyIngested as duplicate:
        return _counted(IngestOutcome("duplicate", duplicate.track))
    INGEST_SECONDS.inc(reference.duration_s)
    return _counted(IngestOutcome("added", track))


def _counted(outcome: IngestOutcome) -> IngestOutcome:
    INGEST_TRACKS.labels(outcome.status).inc()
    return outcome


def reference_from_upload(upload: UploadedFile) -> tuple[ReferenceAudio, str]:
    """Check and fingerprint an uploaded reference file; return it with its SHA-256.

    Raise audio.AudioError for unusable audio and DuplicateRecording when these bytes are
    already in the catalog. Nothing is stored.
    """
    with local_copy(upload) as path:
        digest = file_sha256(path)
        if Track.objects.filter(sha256=digest).exists():
            raise DuplicateRecording("This recording is already in the catalog.")
        return reference_fingerprints(path), digest


class DuplicateRecording(ValueError):
    """The same bytes are already a track of the catalog."""


def track_save_reference(*, track: Track, reference: ReferenceAudio, digest: str, upload: UploadedFile) -> Track:
    """Save a track (new, or with its reference replaced) with the fingerprinted upload.

    The old hashes and file of a replaced reference go in the same transaction.
    """
    try:
        with local_copy(upload) as path:
            return _store_reference(
                track,
                reference,
                digest,
                path,
                artist_names=[],
                album_title=None,
                stored_name=Path(upload.name or "upload").name,
            )
    except _AlreadyIngested:
        raise DuplicateRecording("This recording is already in the catalog.") from None


class _AlreadyIngested(Exception):
    def __init__(self, track: Track):
        self.track = track


def _store_reference(
    track: Track,
    reference: ReferenceAudio,
    digest: str,
    audio_path: Path | None,
    *,
    artist_names: list[str],
    album_title: str | None,
    stored_name: str | None = None,
) -> Track:
    """Write the track row, its hashes, its sketches and its audio file in one transaction.

    A transaction-scoped advisory lock on the digest serialises concurrent ingests of the same
    bytes; the unique SHA-256 column is the backstop. If the process dies anywhere in here,
    PostgreSQL rolls back the track and every hash together; a stored file whose transaction
    fails is removed.
    """
    saved_name = None
    replaced_name = None
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [digest])
            existing = Track.objects.filter(sha256=digest).exclude(pk=track.pk).first()
            if existing is not None:
                raise _AlreadyIngested(existing)
            if track.pk is not None:
                # Replacing the reference of an existing track (deleted meanwhile: TrackGone).
                track_lock(track_id=track.pk)
                replaced_name = Track.objects.filter(pk=track.pk).values_list("audio", flat=True).first() or None
                store.delete_track_hashes(track.pk)
                selectors.forget_track_frames(track.pk)
            track.audio = replaced_name or ""  # the new file is stored below, once
            track.sha256 = digest
            track.duration_s = round(reference.duration_s, 3)
            track.fingerprint_status = FingerprintStatus.READY
            track.fingerprint_error = ""
            if album_title:
                track.album, _ = Album.objects.get_or_create(owner=track.owner, title=album_title[:300])
            track.save()
            if artist_names:
                track.artists.set(
                    [Artist.objects.get_or_create(owner=track.owner, name=name[:200])[0] for name in artist_names]
                )
            track.hash_count = store.write_track_hashes(track.id, reference.fingerprints)
            store.write_track_sketch(track.id, reference.sketch)
            Track.objects.filter(pk=track.pk).update(hash_count=track.hash_count)
            if audio_path is not None:
                with open(audio_path, "rb") as handle:
                    track.audio.save(stored_name or audio_path.name, File(handle), save=False)
                saved_name = track.audio.name
                Track.objects.filter(pk=track.pk).update(audio=saved_name)
                if replaced_name:
                    transaction.on_commit(lambda: _remove_file(replaced_name))
    except IntegrityError:
        _remove_file(saved_name)
        existing = Track.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        raise _AlreadyIngested(existing) from None
    except BaseException:
        _remove_file(saved_name)
        raise
    return track


def _remove_file(name: str | None) -> None:
    if name:
        Track.audio.field.storage.delete(name)


def _split_artists(value: str) -> list[str]:
    """Artists of a tag such as "A; B" or "A feat. B"."""
    names = [name.strip() for name in value.replace(" feat. ", ";").split(";")]
    return [name for name in names if name]


def _isrc_from_tags(tags: dict[str, str]) -> str:
    value = tags.get("isrc", "").replace("-", "").upper()
    return value if len(value) == 12 else ""


def track_create_from_upload(
    *,
    owner,
    upload: UploadedFile,
    title: str,
    artist_names: Sequence[str] = (),
    album_title: str | None = None,
    isrc: str = "",
) -> Track:
    """A new track from an uploaded reference (the API's route; the admin uses its form).

    Raise audio.AudioError for unusable audio and DuplicateRecording for audio already in the
    catalog; nothing is stored then.
    """
    reference, digest = reference_from_upload(upload)
    track = Track(owner=owner, title=title[:300], isrc=isrc)
    try:
        with local_copy(upload) as path:
            return _store_reference(
                track,
                reference,
                digest,
                path,
                artist_names=list(artist_names),
                album_title=album_title,
                stored_name=Path(upload.name or "reference").name,
            )
    except _AlreadyIngested:
        raise DuplicateRecording("This recording is already in the catalog.") from None


def tracks_sketch_missing() -> dict[str, int]:
    """Sketch every fingerprinted track that has no sketch yet (a catalog ingested before sketches
    existed), from its stored audio, decoded as ingest decodes it. Return how many were sketched,
    had no stored audio, or failed (unreadable audio); each track is written in its own
    transaction, so a failure loses nothing done before it."""
    from recognition.models import FrameSketch

    counts = {"sketched": 0, "no_audio": 0, "failed": 0}
    missing = Track.objects.filter(hash_count__gt=0).exclude(pk__in=FrameSketch.objects.values("track_id"))
    for track in missing.order_by("pk").iterator():
        if not track.audio:
            counts["no_audio"] += 1
            continue
        sketcher = StreamingSketch()
        try:
            with track.audio.open("rb"), local_copy(track.audio) as path:
                chunks = audio.decode_chunks(
                    path,
                    sample_rate_hz=REFERENCE.sample_rate_hz,
                    max_seconds=settings.EARSHOT_MAX_REFERENCE_SECONDS,
                    limits=decode_limits(),
                )
                frames = np.concatenate([sketcher.push(chunk) for chunk in chunks] or [np.empty(0, np.uint16)])
            with transaction.atomic():
                store.write_track_sketch(track.pk, frames)
        except (audio.AudioError, OSError, IntegrityError):
            counts["failed"] += 1
            continue
        counts["sketched"] += 1
    return counts
