"""Reads the recognition services need: track lengths for the matcher, track details for results."""

from __future__ import annotations

import threading
import time

import numpy as np

from catalog.models import Track
from recognition.fingerprint import REFERENCE

__all__ = ["fingerprinted_track_count", "track_frames", "track_summaries"]

# Track lengths never change once a track is fingerprinted (ids are never reused), so each
# process keeps them; a replaced reference gets a new length through `forget_track_frames`.
_frames_cache: dict[int, int] = {}
_frames_lock = threading.Lock()


def track_frames(track_ids: np.ndarray) -> np.ndarray:
    """Return the length in frames of each track (0 for unknown ids)."""
    ids = [int(t) for t in track_ids]
    missing = [t for t in ids if t not in _frames_cache]
    if missing:
        found = dict(Track.objects.filter(id__in=missing).values_list("id", "duration_s"))
        with _frames_lock:
            for track_id in missing:
                seconds = found.get(track_id) or 0.0
                _frames_cache[track_id] = int(seconds * REFERENCE.frames_per_second)
    return np.array([_frames_cache.get(t, 0) for t in ids], dtype=np.int64)


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
    return _count_cache["value"]


def forget_track_frames(track_id: int) -> None:
    with _frames_lock:
        _frames_cache.pop(track_id, None)


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
