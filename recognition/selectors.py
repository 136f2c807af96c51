"""Reads the recognition services need: track lengths for the matcher, track details for results."""

from __future__ import annotations

import threading
import time
from pathlib import PurePosixPath

import numpy as np
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.cache import cache
from django.db.models import Q

from catalog.models import Track
from portal.formatting import axis_ticks, change
from recognition.engine import arrays
from recognition.engine.fingerprint import REFERENCE

__all__ = [
    "fingerprinted_track_count",
    "history_entries",
    "recognitions_of",
    "track_frames",
    "track_summaries",
    "upload_media_kind",
    "upload_media_type",
    "upload_segments",
    "upload_timeline",
    "uploads_visible_to",
]


# Each process keeps every fingerprinted track's length: the matcher asks for the lengths of all
# the tracks a clip's triplets vote for (thousands in a large catalog) several times per clip,
# and a length changes only when its reference is replaced (`forget_track_frames`, called in the
# replacing process, which also bumps a generation in the shared cache that every other process
# checks at most every 30 s before forgetting its own; ids are never reused). Sorted numpy arrays
# rather than a dict, all read in one query on first use rather than id by id: either per-track
# way took a large share of a query's time in a catalog of 3 * 10^8 hashes (docs/decisions.md).
class _FramesCache:
    table = (np.empty(0, np.int64), np.empty(0, np.int64))  # (sorted ids, lengths), replaced whole
    lock = threading.Lock()


def _cached_frames(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, known) of `ids` from this process's cache (read without the lock: one tuple)."""
    known_ids, values = _FramesCache.table
    if known_ids.size == 0:
        return np.zeros(ids.size, np.int64), np.zeros(ids.size, bool)
    position = np.minimum(np.searchsorted(known_ids, ids), known_ids.size - 1)
    known = known_ids[position] == ids
    return np.where(known, values[position], 0), known


def track_frames(track_ids: np.ndarray) -> np.ndarray:
    """Return the length in frames of each track (0 for unknown ids)."""
    ids = np.asarray(track_ids, dtype=np.int64)
    _follow_replacements()
    if _FramesCache.table[0].size == 0 and ids.size:
        _remember_frames(Track.objects.filter(hash_count__gt=0).values_list("id", "duration_s"), np.empty(0, np.int64))
    lengths, known = _cached_frames(ids)
    if known.all():
        return lengths
    missing = arrays.distinct(ids[~known])  # tracks fingerprinted since, or unknown ids
    _remember_frames(Track.objects.filter(id__in=missing.tolist()).values_list("id", "duration_s"), missing)
    return _cached_frames(ids)[0]


def _remember_frames(rows, asked: np.ndarray) -> None:
    """Add (id, seconds) rows to the cache, and 0 for each id `asked` that has no row."""
    found = dict(rows)
    ids = arrays.distinct(np.concatenate([np.fromiter(found, np.int64, len(found)), asked]))
    seconds = np.array([found.get(t) or 0.0 for t in ids.tolist()], np.float64)
    with _FramesCache.lock:
        cached_ids, cached_values = _FramesCache.table
        merged_ids, first = np.unique(np.concatenate([cached_ids, ids]), return_index=True)
        merged_values = np.concatenate([cached_values, (seconds * REFERENCE.frames_per_second).astype(np.int64)])
        _FramesCache.table = (merged_ids, merged_values[first])


def forget_track_frames(track_id: int | None = None) -> None:
    """Forget one track's length (its reference was replaced), or every length (None), here and,
    within _GENERATION_TTL_S, in every other process (through the shared cache)."""
    _forget_here(track_id)
    if track_id is not None:
        try:
            cache.incr(FRAMES_GENERATION_KEY)
        except ValueError:  # no generation yet (or the cache was flushed): start one
            cache.add(FRAMES_GENERATION_KEY, 1, timeout=None)


def _forget_here(track_id: int | None) -> None:
    with _FramesCache.lock:
        ids, values = _FramesCache.table
        keep = ids != track_id if track_id is not None else np.zeros(ids.size, bool)
        _FramesCache.table = (ids[keep], values[keep])


FRAMES_GENERATION_KEY = "recognition:track-frames-generation"
_GENERATION_TTL_S = 30.0
_generation: dict = {"seen": None, "until": 0.0}


def _follow_replacements() -> None:
    """Forget this process's lengths when another process has replaced a reference since the
    last look (checked at most every _GENERATION_TTL_S: a replaced reference is rare, and until
    then its old length only shifts the bound of clips voting for it)."""
    now = time.monotonic()
    if now < _generation["until"]:
        return
    _generation["until"] = now + _GENERATION_TTL_S
    current = cache.get(FRAMES_GENERATION_KEY, 0)
    if _generation["seen"] is not None and current != _generation["seen"]:
        _forget_here(None)
    _generation["seen"] = current


_count_cache = {"value": 0, "until": 0.0}
_COUNT_TTL_S = 30.0


def fingerprinted_track_count() -> int:
    """Tracks that can be matched (the matcher's false-match correction), re-counted at most
    every 30 s: a few seconds' lag only leaves out tracks ingested meanwhile, a tiny change to a
    logarithmic correction."""
    now = time.monotonic()
    if now >= _count_cache["until"]:
        _count_cache["value"] = Track.objects.filter(hash_count__gt=0).count()
        _count_cache["until"] = now + _COUNT_TTL_S
    return int(_count_cache["value"])


def track_summaries(track_ids: list[int]) -> dict[int, dict]:
    """Title, artists and album of each track, for results: one query for all of them, rows not
    models (every recognition asks; `Track.artist_names` joins the same names in the same order)."""
    rows = (
        Track.objects.filter(id__in=track_ids)
        .order_by()
        .annotate(
            names=ArrayAgg(
                "artists__name", order_by=("artists__name", "artists__id"), filter=Q(artists__isnull=False), default=[]
            )
        )
        .values_list("id", "title", "album__title", "isrc", "names")
    )
    return {
        track_id: {"title": title, "artist": ", ".join(names), "album": album or "", "isrc": isrc}
        for track_id, title, album, isrc, names in rows
    }


def recognitions_of(user):
    """A user's recognitions, newest first, with their tracks."""
    from recognition.models import Recognition

    return (
        Recognition.objects.filter(user=user)
        .select_related("track")
        .prefetch_related("track__artists")
        .order_by("-created_at")
    )


# A history row lists this many of an upload's songs; the upload's page has the rest.
HISTORY_SONGS_SHOWN = 5


def history_entries(recognitions) -> list[dict]:
    """Each recognition of a page of history with the songs it found: a clip's match (where in the
    song), or every song of a long recording in time order (where in the recording), the first
    HISTORY_SONGS_SHOWN of them and how many more."""
    entries = []
    for recognition in recognitions:
        if recognition.segments and (len(recognition.segments) > 1 or recognition.source == "upload"):
            songs = [
                {**segment, "in_recording": True}
                for segment in sorted(recognition.segments, key=lambda s: (s["start_s"], s["end_s"]))
            ]
        elif recognition.track is not None:
            track = recognition.track
            songs = [
                {
                    "track_id": track.pk,
                    "title": track.title,
                    "artist": track.artist_names,
                    "offset_s": recognition.offset_s,
                    "confidence": recognition.confidence,
                    "speed": recognition.speed,
                    "pitch_semitones": recognition.pitch_semitones,
                    "in_recording": False,
                }
            ]
        else:
            songs = []
        entries.append({
            "recognition": recognition,
            "songs": songs[:HISTORY_SONGS_SHOWN],
            "more": max(0, len(songs) - HISTORY_SONGS_SHOWN),
        })  # fmt: skip
    return entries


def uploads_visible_to(user):
    """Upload jobs a user may see: their own, or everyone's for staff."""
    from recognition.models import Recognition

    jobs = Recognition.objects.filter(source=Recognition.Source.UPLOAD).select_related("track", "user")
    if not user.is_authenticated:
        return jobs.none()
    return jobs if user.sees_whole_catalog else jobs.filter(user=user)


# Media a browser plays in a <video> element, by the stored key's extension (the probe that
# accepted the upload is not kept); anything else is played as audio.
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".ogv", ".avi", ".3gp"})
MEDIA_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
    ".mkv": "video/x-matroska", ".ogv": "video/ogg", ".avi": "video/x-msvideo", ".3gp": "video/3gpp",
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".wav": "audio/wav", ".flac": "audio/flac",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg", ".weba": "audio/webm",
}  # fmt: skip


def upload_media_kind(job) -> str | None:
    """ "video" or "audio": how an upload's kept media plays in a browser; None when it was not kept."""
    if not job.media.name:
        return None
    return "video" if PurePosixPath(job.media.name).suffix.lower() in VIDEO_EXTENSIONS else "audio"


def upload_media_type(job) -> str:
    """The Content-Type an upload's kept media is served with (never one a browser renders as a page)."""
    return MEDIA_TYPES.get(PurePosixPath(job.media.name).suffix.lower(), "application/octet-stream")


# Stretches without catalog music shorter than this are not drawn: segment edges are only known
# to about a second, so a sub-second gap between two songs is the matcher's rounding, not silence.
MIN_GAP_S = 1.0


def _owner_names(track_ids) -> dict[int, str]:
    """The rights holder of each track, as a reader knows them (full name, else user name)."""
    tracks = (
        Track.objects.filter(id__in=list(track_ids))
        .select_related("owner")
        .only("id", "owner__username", "owner__first_name", "owner__last_name")
    )
    return {track.id: track.owner.get_full_name() or track.owner.username for track in tracks}


def upload_segments(job) -> list[dict]:
    """An upload's segments in time order, each with its rights holder (`owner`), its end in the
    song (`offset_end_s`, run through at the segment's speed), its change of speed or pitch in
    words (`change`, "" as recorded: portal.formatting.change) and its index: what the results
    page, its CSV and its JSON show. Segments stored before changes were reported have none."""
    segments = sorted(job.segments, key=lambda s: (s["start_s"], s["end_s"]))
    owners = _owner_names({s["track_id"] for s in segments})
    return [
        {
            "speed": None,
            "pitch_semitones": None,
            **segment,
            "index": index,
            "owner": owners.get(segment["track_id"], ""),
            "offset_end_s": round(
                segment["offset_s"] + (segment["end_s"] - segment["start_s"]) * (segment.get("speed") or 1.0), 2
            ),
            "change": change(segment.get("speed"), segment.get("pitch_semitones")),
        }
        for index, segment in enumerate(segments, start=1)
    ]


def _gaps(segments: list[dict], duration_s: float) -> list[tuple[float, float]]:
    """The stretches of [0, duration_s] no segment covers, of at least MIN_GAP_S."""
    gaps, covered_to = [], 0.0
    for segment in segments:
        if segment["start_s"] - covered_to >= MIN_GAP_S:
            gaps.append((covered_to, segment["start_s"]))
        covered_to = max(covered_to, segment["end_s"])
    if duration_s - covered_to >= MIN_GAP_S:
        gaps.append((covered_to, duration_s))
    return gaps


def upload_timeline(job) -> dict:
    """An upload's results laid out on a timeline: segments and the stretches without catalog
    music as bars (left and width in % of the media, a colour per track), the axis ticks, how
    long no catalog music plays, and how many songs were found."""
    segments = upload_segments(job)
    duration_s = max([float(job.heard_s or job.media_duration_s or 0), *(s["end_s"] for s in segments)])

    def place(start_s: float, end_s: float) -> dict:
        start = max(0.0, min(start_s, duration_s))
        end = max(start, min(end_s, duration_s))
        return {"left_pct": round(100 * start / duration_s, 3), "width_pct": round(100 * (end - start) / duration_s, 3)}

    if not duration_s:
        return {"duration_s": 0.0, "bars": [], "gaps": [], "ticks": [], "unmatched_s": 0.0, "songs": 0}
    bars = [
        {**segment, **place(segment["start_s"], segment["end_s"]), "hue": (segment["track_id"] * 137) % 360}
        for segment in segments  # golden-angle hues: neighbouring track ids differ in colour
    ]
    gaps = [{"start_s": a, "end_s": b, **place(a, b)} for a, b in _gaps(segments, duration_s)]
    unmatched_s = sum(g["end_s"] - g["start_s"] for g in gaps)
    return {
        "duration_s": duration_s,
        "bars": bars,
        "gaps": gaps,
        "ticks": [{"at_s": t, "left_pct": round(100 * t / duration_s, 3)} for t in axis_ticks(duration_s)],
        "unmatched_s": unmatched_s,
        "songs": len({s["track_id"] for s in segments}),
    }
