"""Reads the recognition services need: track lengths for the matcher, track details for results."""

from __future__ import annotations

import threading
import time

import numpy as np

from catalog.models import Track
from recognition.engine import arrays
from recognition.engine.fingerprint import REFERENCE

__all__ = ["fingerprinted_track_count", "track_frames", "track_summaries"]


# Each process keeps every fingerprinted track's length: the matcher asks for the lengths of all
# the tracks a clip's triplets vote for (thousands in a large catalog) several times per clip,
# and a length changes only when its reference is replaced (`forget_track_frames`, called in the
# replacing process; ids are never reused). Sorted numpy arrays rather than a dict, all read in
# one query on first use rather than id by id: either per-track way took a large share of a
# query's time in a catalog of 3 * 10^8 hashes (docs/decisions.md).
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
    """Forget one track's length (its reference was replaced), or every length (None)."""
    with _FramesCache.lock:
        ids, values = _FramesCache.table
        keep = ids != track_id if track_id is not None else np.zeros(ids.size, bool)
        _FramesCache.table = (ids[keep], values[keep])


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
    """Title, artists and album of each track, for results (one query for all of them)."""
    tracks = Track.objects.filter(id__in=track_ids).select_related("album").prefetch_related("artists")
    return {
        track.id: {
            "title": track.title,
            "artist": track.artist_names,
            "album": track.album.title if track.album else "",
            "isrc": track.isrc,
        }
        for track in tracks
    }


def recognitions_of(user):
    """A user's recognitions, newest first, with their tracks."""
    from recognition.models import Recognition

    return Recognition.objects.filter(user=user).select_related("track").order_by("-created_at")


def uploads_visible_to(user):
    """Upload jobs a user may see: their own, or everyone's for staff."""
    from recognition.models import Recognition

    jobs = Recognition.objects.filter(source=Recognition.Source.UPLOAD).select_related("track", "user")
    if not user.is_authenticated:
        return jobs.none()
    return jobs if user.sees_whole_catalog else jobs.filter(user=user)


def timeline_bars(job) -> list[dict]:
    """Segments of an upload as bars on a timeline: left and width in % of the media, a colour per track."""
    duration = job.heard_s or job.media_duration_s or 0
    if not duration:
        return []
    bars = []
    for segment in job.segments:
        start = max(0.0, min(segment["start_s"], duration))
        end = max(start, min(segment["end_s"], duration))
        bars.append({
            **segment,
            "left_pct": round(100 * start / duration, 3),
            "width_pct": round(max(0.4, 100 * (end - start) / duration), 3),
            "hue": (segment["track_id"] * 137) % 360,  # golden-angle spacing: neighbours differ
        })  # fmt: skip
    return bars
