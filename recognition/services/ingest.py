"""Reference audio into the catalog: a track with its hashes, sketch and file, or nothing.

Every new track and every replaced reference is written by track_create or
track_replace_reference, whoever asks (the API, the admin, `manage.py ingest`, load_demo); their
metadata by catalog.services.track_update, as every edit's is.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, connection, transaction

from accounts.models import User
from catalog.models import Album, Artist, FingerprintStatus, Track, isrc_validator
from catalog.services import track_lock, track_preview_refresh, track_update
from portal.observability import INGEST_SECONDS, INGEST_TRACKS
from recognition import selectors, store
from recognition.engine import audio
from recognition.engine.fingerprint import REFERENCE, Fingerprints, StreamingFingerprinter, merge_fingerprints
from recognition.engine.sketch import StreamingSketch
from recognition.models import FrameSketch
from recognition.services.common import decode_limits, file_sha256, local_copy

__all__ = [
    "DuplicateRecording",
    "IngestOutcome",
    "ReferenceAudio",
    "metadata_from_tags",
    "reference_fingerprints",
    "reference_from_upload",
    "track_create",
    "track_ingest",
    "track_ingest_upload",
    "track_replace_reference",
    "tracks_ingest",
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
    """Decode, fingerprint and sketch a reference file as it streams out of one ffmpeg call.

    Raise audio.AudioError when the file is not usable audio: not media, no audio stream, longer
    than the cap, or nothing to fingerprint (silence).
    """
    max_seconds = max_seconds or settings.EARSHOT_MAX_REFERENCE_SECONDS
    stream = StreamingFingerprinter(REFERENCE)
    sketcher = StreamingSketch()
    parts = []
    sketches = []
    samples = 0
    # One ffmpeg call describes (the tags, the duration checked against the cap before any
    # decoding) and decodes; never the in-process WAV reader, which reads no tags.
    with audio.open_decode(
        path,
        sample_rate_hz=REFERENCE.sample_rate_hz,
        max_seconds=max_seconds,
        max_duration_s=max_seconds,
        limits=decode_limits(),
        in_process=False,
    ) as decoding:
        info = decoding.info
        for chunk in decoding:
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
    owner: User,
    title: str | None = None,
    artist_names: Sequence[str] | None = None,
    album_title: str | None = None,
    isrc: str = "",
    store_audio: bool = True,
) -> IngestOutcome:
    """Add a reference file to the catalog through track_create; describe what happened.

    The same bytes always give the same track (SHA-256), also when several processes ingest them
    at once. Title, artists and album come from the arguments, else from the file's tags, else
    the title is the file name.
    """
    return _ingest_write(
        _ingest_read(Path(path)),
        owner=owner, title=title, artist_names=artist_names, album_title=album_title, isrc=isrc,
        store_audio=store_audio,
    )  # fmt: skip


def tracks_ingest(
    *,
    paths: Iterable[str | os.PathLike],
    owner: User,
    artist_names: Sequence[str] | None = None,
    album_title: str | None = None,
    store_audio: bool = True,
) -> Iterator[tuple[str, IngestOutcome]]:
    """Add reference files one after the other as track_ingest does, in their order; yield each
    path with what happened to it, never raising for one file ("failed", "internal error: ...").

    Each file is written in its own transaction while the next one is read on a thread (hashed,
    checked for a duplicate, decoded and fingerprinted): the database write of one overlaps the
    decoding of the next, and at most one file is read ahead.
    """
    ahead = threading.Semaphore(1)
    done = threading.Event()
    ready: queue.Queue = queue.Queue()

    def read_all() -> None:
        try:
            for path in paths:
                while not ahead.acquire(timeout=0.1):
                    if done.is_set():
                        return
                try:
                    ready.put((os.fspath(path), _ingest_read(Path(path))))
                except Exception as error:
                    ready.put((os.fspath(path), error))
        finally:
            connection.close()  # the duplicate checks' connection, this thread's own
            ready.put(None)

    reader = threading.Thread(target=read_all, name="earshot-ingest-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            path, read = item
            ahead.release()
            try:
                if isinstance(read, Exception):
                    raise read
                outcome = _ingest_write(
                    read, owner=owner, artist_names=artist_names, album_title=album_title, store_audio=store_audio
                )
            except Exception as error:
                outcome = IngestOutcome("failed", reason=f"internal error: {error}")
            yield path, outcome
    finally:
        done.set()
        reader.join()


@dataclass(frozen=True)
class _Read:
    """A reference file read: what happened to it already ("failed", "duplicate"), or what to write."""

    path: Path
    outcome: IngestOutcome | None = None
    digest: str = ""
    reference: ReferenceAudio | None = None


def _ingest_read(path: Path) -> _Read:
    """Hash a file, look for its bytes in the catalog, else decode and fingerprint it."""
    try:
        digest = file_sha256(path)
    except OSError as error:
        return _Read(path, _counted(IngestOutcome("failed", reason=f"The file cannot be read: {error.strerror}.")))
    existing = Track.objects.filter(sha256=digest).first()
    if existing is not None:
        return _Read(path, _counted(IngestOutcome("duplicate", existing)))
    try:
        reference = reference_fingerprints(path)
    except audio.AudioError as error:
        return _Read(path, _counted(IngestOutcome("failed", reason=error.message)))
    return _Read(path, digest=digest, reference=reference)


def _ingest_write(
    read: _Read,
    *,
    owner: User,
    title: str | None = None,
    artist_names: Sequence[str] | None = None,
    album_title: str | None = None,
    isrc: str = "",
    store_audio: bool = True,
) -> IngestOutcome:
    """Write a file read by _ingest_read through track_create, unless it has its outcome already."""
    if read.outcome is not None:
        return read.outcome
    assert read.reference is not None
    reference, path = read.reference, read.path
    tagged = metadata_from_tags(reference.tags, file_name=path.name)
    try:
        with open(path, "rb") if store_audio else contextlib.nullcontext() as handle:
            track = track_create(
                owner=owner,
                reference=reference,
                digest=read.digest,
                audio=File(handle, name=path.name) if handle else None,
                title=title or tagged["title"],
                artists=list(artist_names) if artist_names else tagged["artists"],
                album=album_title or tagged["album"],
                isrc=isrc or tagged["isrc"],
            )
    except DuplicateRecording as duplicate:
        return _counted(IngestOutcome("duplicate", duplicate.track))
    INGEST_SECONDS.inc(reference.duration_s)
    return _counted(IngestOutcome("added", track))


def track_ingest_upload(
    *, upload: UploadedFile, owner: User, artist_names: Sequence[str] = (), album_title: str | None = None
) -> IngestOutcome:
    """Add an uploaded reference file (one of several the admin takes at once) through
    reference_from_upload and track_create, as a single add; describe what happened.

    Title, artists and album come from the file's tags (the title else from the file's name);
    `artist_names` and `album_title` stand in for tags that name none. A file already in the
    catalog is a "duplicate" with its track; unusable audio "failed" with the reason.
    """
    try:
        reference, digest = reference_from_upload(upload)
    except DuplicateRecording as duplicate:
        return _counted(IngestOutcome("duplicate", duplicate.track))
    except audio.AudioError as error:
        return _counted(IngestOutcome("failed", reason=error.message))
    tagged = metadata_from_tags(reference.tags, file_name=upload.name or "reference")
    try:
        track = track_create(
            owner=owner,
            reference=reference,
            digest=digest,
            audio=upload,
            title=tagged["title"],
            artists=tagged["artists"] or list(artist_names),
            album=tagged["album"] or album_title or None,
            isrc=tagged["isrc"],
        )
    except DuplicateRecording as duplicate:  # the same bytes added meanwhile by another request
        return _counted(IngestOutcome("duplicate", duplicate.track))
    INGEST_SECONDS.inc(reference.duration_s)
    return _counted(IngestOutcome("added", track))


def metadata_from_tags(tags: dict[str, str], *, file_name: str) -> dict:
    """What a reference's tags (ffprobe's, lower-cased) say of it: its title (else the file's
    name without its extension), artists, album (None when untagged) and ISRC ("" when none is valid)."""
    return {
        "title": (tags.get("title") or Path(file_name).stem or "Untitled")[:300],
        "artists": _split_artists(tags.get("artist", "")),
        "album": tags.get("album") or None,
        "isrc": _isrc_from_tags(tags),
    }


def _counted(outcome: IngestOutcome) -> IngestOutcome:
    INGEST_TRACKS.labels(outcome.status).inc()
    return outcome


def _split_artists(value: str) -> list[str]:
    """Artists of a tag such as "A; B" or "A feat. B"."""
    names = [name.strip() for name in value.replace(" feat. ", ";").split(";")]
    return [name for name in names if name]


def _isrc_from_tags(tags: dict[str, str]) -> str:
    value = tags.get("isrc", "").replace("-", "").upper()
    try:
        isrc_validator(value)
    except ValidationError:
        return ""  # a malformed tag is no ISRC, not a reason to refuse the file
    return value


def reference_from_upload(upload: UploadedFile) -> tuple[ReferenceAudio, str]:
    """Check and fingerprint an uploaded reference file; return it with its SHA-256.

    Raise audio.AudioError for unusable audio and DuplicateRecording when these bytes are
    already in the catalog. Nothing is stored.
    """
    with local_copy(upload) as path:
        digest = file_sha256(path)
        existing = Track.objects.filter(sha256=digest).first()
        if existing is not None:
            raise DuplicateRecording(existing)
        return reference_fingerprints(path), digest


class DuplicateRecording(ValueError):
    """The same bytes are already a track of the catalog: `track`."""

    def __init__(self, track: Track):
        super().__init__("This recording is already in the catalog.")
        self.track = track


def track_create(
    *,
    owner: User,
    reference: ReferenceAudio,
    digest: str,
    audio: File | None,
    title: str,
    artists: Sequence[Artist | str] = (),
    album: Album | str | None = None,
    isrc: str = "",
    links: Sequence[str] = (),
    preview_allowed: bool = False,
) -> Track:
    """Add a track with its fingerprinted reference (`digest`: the SHA-256 of its bytes): the
    row, its metadata, hashes, sketch and stored file (None: not kept) in one transaction, or
    nothing. Raise DuplicateRecording when these bytes are a track already.
    """
    with _reference_transaction(digest) as stored:
        track = Track.objects.create(owner=owner)
        # Metadata is written by the one function every edit goes through.
        track_update(
            track=track, title=title, isrc=isrc, artists=artists, album=album, links=links,
            preview_allowed=preview_allowed,
        )  # fmt: skip
        _write_reference(track, reference, digest, audio, stored)
    return track


def track_replace_reference(*, track: Track, reference: ReferenceAudio, digest: str, audio: File) -> Track:
    """Replace a track's reference recording, its hashes and its sketch in one transaction; the
    old file is removed after commit. Raise TrackGone if the track was deleted meanwhile and
    DuplicateRecording when these bytes are another track already.
    """
    with _reference_transaction(digest, track_id=track.pk) as stored:
        track_lock(track_id=track.pk)
        replaced = Track.objects.filter(pk=track.pk).values_list("audio", flat=True).get()
        store.delete_track_hashes(track.pk)
        _write_reference(track, reference, digest, audio, stored)
        # After commit: a lookup between this and the commit would cache the old length again.
        transaction.on_commit(functools.partial(selectors.forget_track_frames, track.pk))
        if replaced:
            transaction.on_commit(functools.partial(_remove_files, [replaced]))
    return track


@contextlib.contextmanager
def _reference_transaction(digest: str, *, track_id: int | None = None) -> Iterator[list[str]]:
    """A transaction that writes a reference with these bytes: serialised with every other write
    of the same bytes by a transaction-scoped advisory lock (the unique SHA-256 column is the
    backstop) and refused when another track holds them. It yields a list for the names of the
    files it stores, which are removed if it fails; a process that dies in it leaves nothing,
    PostgreSQL rolling back the row and every hash together.
    """
    stored: list[str] = []
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [digest])
            holders = Track.objects.filter(sha256=digest)
            existing = (holders if track_id is None else holders.exclude(pk=track_id)).first()
            if existing is not None:
                raise DuplicateRecording(existing)
            yield stored
    except IntegrityError:
        _remove_files(stored)
        existing = Track.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        raise DuplicateRecording(existing) from None
    except BaseException:
        _remove_files(stored)
        raise


# The columns that describe a track's reference, written only with it (track_update never does).
REFERENCE_FIELDS = ["audio", "sha256", "duration_s", "fingerprint_status", "fingerprint_error", "hash_count"]


def _write_reference(
    track: Track, reference: ReferenceAudio, digest: str, audio: File | None, stored: list[str]
) -> None:
    track.audio = ""
    if audio is not None:  # stored first: a failure in any write after it removes it again
        track.audio.save(Path(audio.name or "reference").name, audio, save=False)
        stored.append(track.audio.name)
    track.hash_count = store.write_track_hashes(track.pk, reference.fingerprints)
    store.write_track_sketch(track.pk, reference.sketch)
    track.sha256 = digest
    track.duration_s = round(reference.duration_s, 3)
    track.fingerprint_status = FingerprintStatus.READY
    track.fingerprint_error = ""
    track.save(update_fields=[*REFERENCE_FIELDS, "updated_at"])
    # The preview is cut from the reference: a new one replaces it (when its owner allows one).
    preview = track_preview_refresh(track=track, reference_replaced=True)
    if preview:
        stored.append(preview)
    # The one place a track becomes fingerprinted: what monitors heard before is searched for it.
    from recognition.monitors.retroactive import retroactive_scan_request

    retroactive_scan_request(track_id=track.pk)


def _remove_files(names: list[str]) -> None:
    for name in names:
        if name:
            Track.audio.field.storage.delete(name)


def tracks_sketch_missing() -> dict[str, int]:
    """Sketch every fingerprinted track that has no sketch yet (a catalog ingested before sketches
    existed), from its stored audio, decoded as ingest decodes it. Return how many were sketched,
    had no stored audio, or failed (unreadable audio); each track is written in its own
    transaction, so a failure loses nothing done before it."""
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
