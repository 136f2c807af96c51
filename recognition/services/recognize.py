"""Recognition of clips, microphone streams and long recordings, and how results are described."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog import selectors as catalog_selectors
from recognition import selectors
from recognition.engine import Match, Segment, audio
from recognition.engine.fingerprint import QUERY, REFERENCE
from recognition.models import Recognition
from recognition.services.common import decode_limits, identifier
from recognition.services.plays import plays_record

__all__ = [
    "CLIP_SECONDS",
    "MATCH_FIELDS",
    "RecognitionOutcome",
    "live_recognition_save",
    "match_card",
    "match_details",
    "recognize_clip",
    "recognize_file",
    "recognize_samples",
    "segment_details",
]


@dataclass(frozen=True)
class RecognitionOutcome:
    """What a recognition found: the best match of the clip, or the segments of a long input."""

    match: dict | None
    segments: list[dict] = field(default_factory=list)
    duration_s: float = 0.0
    elapsed_ms: float = 0.0


def recognize_samples(samples: np.ndarray) -> Match | None:
    """Identify mono samples at the engine rate."""
    return identifier().identify(samples)


# The fields of a match every interface shows, in order (a long input's best segment gives them).
MATCH_FIELDS = ("track_id", "title", "artist", "offset_s", "confidence", "speed", "pitch_semitones")


def match_details(match: Match) -> dict:
    """The public description of a match (the fields every interface shows): `speed` and
    `pitch_semitones` are null unless the engine reports a change (Match.change)."""
    summary = selectors.track_summaries([match.track_id]).get(match.track_id, {})
    change = match.change
    return {
        "track_id": match.track_id,
        "title": summary.get("title", ""),
        "artist": summary.get("artist", ""),
        "offset_s": round(float(match.offset_frames) / REFERENCE.frames_per_second, 2),
        "confidence": round(match.confidence, 6),
        "speed": change.speed,
        "pitch_semitones": change.pitch_semitones,
    }


def match_card(match: Match) -> dict:
    """A match as the listen page shows it: the public fields, with the album and its year, the
    artwork, the rights holder's links, a preview when they allow one, and the track's page."""
    card = catalog_selectors.track_cards([match.track_id]).get(match.track_id)
    if card is None:  # deleted since it was matched
        return {**match_details(match), "url": reverse("catalog:track", args=[match.track_id])}
    return {**match_details(match), **card}


def live_recognition_save(*, user, match: Match | None, heard_s: float, latency_ms: float) -> Recognition:
    """Record a microphone recognition in the listener's history, and its play."""
    change = match.change if match else None
    with transaction.atomic():
        recognition = Recognition.objects.create(
            user=user,
            source=Recognition.Source.MICROPHONE,
            status=Recognition.Status.DONE,
            finished_at=timezone.now(),
            track_id=match.track_id if match else None,
            offset_s=round(match.offset_frames / REFERENCE.frames_per_second, 2) if match else None,
            confidence=match.confidence if match else None,
            speed=change.speed if change else None,
            pitch_semitones=change.pitch_semitones if change else None,
            heard_s=heard_s,
            latency_ms=latency_ms,
        )
        plays_record(recognition, new=True)
    return recognition


def segment_details(segments: list[Segment]) -> list[dict]:
    """The public description of a long input's segments: a match's fields with the segment's
    range in the input (`speed` and `pitch_semitones` null unless reported, Segment.change)."""
    summaries = selectors.track_summaries(sorted({s.track_id for s in segments}))
    fps = REFERENCE.frames_per_second
    return [
        {
            "track_id": s.track_id,
            "title": summaries.get(s.track_id, {}).get("title", ""),
            "artist": summaries.get(s.track_id, {}).get("artist", ""),
            "start_s": round(s.start_frame / fps, 2),
            "end_s": round(s.end_frame / fps, 2),
            "offset_s": round(s.offset_frames / fps, 2),
            "confidence": round(s.confidence, 6),
            "speed": s.change.speed,
            "pitch_semitones": s.change.pitch_semitones,
        }
        for s in segments
    ]


# Inputs up to this long are matched as one clip; longer ones window by window.
CLIP_SECONDS = 30.0
NO_SIGNAL = "No music could be fingerprinted in this audio (is it silent?)."


def recognize_clip(samples: np.ndarray) -> dict | None:
    """The match of a clip (mono, engine rate) as the API shows it, or None; raise
    AudioError("no_signal") when the clip gives no hashes (silence)."""
    answer = identifier().identify_clip(samples)
    if answer.hashes == 0:
        raise audio.AudioError("no_signal", NO_SIGNAL)
    return match_details(answer.match) if answer.match else None


def recognize_file(
    path: str | os.PathLike,
    *,
    timeline: bool = False,
    max_seconds: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> RecognitionOutcome:
    """Recognise a file. Raise audio.AudioError for unusable input.

    A clip of up to 30 s is matched as a whole. A longer input is matched window by window; its
    match is the segment with the most evidence, and with `timeline` every segment is returned:
    each catalog track heard in it, with its time range. Audio with nothing to fingerprint
    (silence) is an error, not "no match". `progress` hears the fraction done (long inputs), the
    retries at other speeds included; 1 once the engine is done, before the segments are described.
    """
    started = time.perf_counter()
    max_seconds = max_seconds or settings.EARSHOT_MAX_QUERY_SECONDS
    engine = identifier()
    # One decode that also describes the file: a plain WAV read in process, anything else by one
    # ffmpeg child, which refuses a file that says it lasts too long before decoding it.
    with audio.open_decode(
        path,
        sample_rate_hz=QUERY.sample_rate_hz,
        max_seconds=max_seconds,
        max_duration_s=max_seconds,
        limits=decode_limits(),
    ) as chunks:
        info = chunks.info
        long_input = info.duration_s is None or info.duration_s > CLIP_SECONDS
        details: list[dict] = []
        if timeline or long_input:
            expected_s = max(info.duration_s or max_seconds, 1e-3)
            found = engine.timeline(iter(chunks), progress=progress, duration_s=expected_s)
            if found.hashes == 0:
                raise audio.AudioError("no_signal", NO_SIGNAL)
            details = segment_details(found.segments)
            best = max(range(len(found.segments)), key=lambda i: found.segments[i].score, default=None)
            match = None
            if best is not None:
                match = {key: details[best][key] for key in MATCH_FIELDS}
            duration_s = found.total_frames / QUERY.frames_per_second
        else:
            parts = list(chunks)
            samples = parts[0] if len(parts) == 1 else np.concatenate(parts)
            match = recognize_clip(samples)
            duration_s = samples.size / QUERY.sample_rate_hz
    return RecognitionOutcome(
        match=match,
        segments=details if timeline else [],
        duration_s=round(duration_s, 2),
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
