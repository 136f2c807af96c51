"""Long recordings: fingerprinted as they are decoded, looked up a minute at a time, matched
window by window and merged into segments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.index import HashIndex

__all__ = ["SPEED_SPAN_S", "Timeline", "Windowed", "timeline"]

# Seconds between a segment's first and last window from which its speed is measured, from how
# its alignment moved (matching.timeline): a window's offset is known to about a frame, so over
# 15 s a recording as made reads within a few tenths of a percent of 1, well inside the 1 % a
# change must reach to be reported (matching/changes.py); shorter segments keep their windows'
# own estimates.
SPEED_SPAN_S = 15.0


@dataclass(frozen=True)
class Timeline:
    """What a long recording holds: its catalog segments, its length, how many hashes it gave."""

    segments: list[matching.Segment]
    total_frames: int
    hashes: int


class Windowed(Protocol):
    """What a long input asks of the Identifier: its index, its settings and its lookups with
    candidates chosen window by window."""

    index: HashIndex
    params: fp.FingerprintParams
    match_params: matching.MatchParams

    def votes(self, fingerprints: fp.Fingerprints, *, window_frames: int | None = None) -> matching.Votes: ...


def timeline(
    engine: Windowed,
    chunks: Iterator[np.ndarray],
    *,
    window_s: float = 6.0,
    hop_s: float = 3.0,
    lookup_batch_s: float = 60.0,
    progress: Callable[[float], None] | None = None,
) -> Timeline:
    """Match a long recording window by window and merge the windows into segments.

    The audio is fingerprinted as it is decoded and looked up a minute at a time, so memory
    stays bounded however long the recording is; `progress` hears the seconds done so far.
    """
    params = engine.params
    stream = fp.StreamingFingerprinter(params)
    parts: list[matching.Hits] = []
    pending: list[fp.Fingerprints] = []
    pending_frames = 0.0
    fps = params.frames_per_second
    batch_frames = lookup_batch_s * fps
    window_frames = int(window_s * fps)
    hashes = 0
    seconds = 0.0

    def flush() -> None:
        nonlocal pending, pending_frames, hashes
        if pending:
            merged = fp.merge_fingerprints(pending, 0)
            hashes += len(merged)
            parts.append(engine.votes(merged, window_frames=window_frames).pairs)
        pending, pending_frames = [], 0.0
        if progress is not None:
            progress(seconds)

    for chunk in chunks:
        new = stream.push(chunk)
        pending.append(new)
        pending_frames += chunk.size / params.hop_size
        seconds += chunk.size / params.sample_rate_hz
        if pending_frames >= batch_frames:
            flush()
    pending.append(stream.finish())
    flush()
    total_frames = stream.n_frames
    hits = matching.Hits.concatenate(parts)
    segments = matching.timeline(
        hits,
        total_frames,
        engine.index.track_frames,
        window_frames=window_frames,
        hop_frames=int(hop_s * fps),
        max_gap_frames=int(2 * window_s * fps),
        drift_frames=int(0.5 * fps),
        tracks=engine.index.track_count(),
        speed_span_frames=int(SPEED_SPAN_S * fps),
        params=engine.match_params,
    )
    return Timeline(segments=segments, total_frames=total_frames, hashes=hashes)
