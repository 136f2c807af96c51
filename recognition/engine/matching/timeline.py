"""Long inputs: consecutive windows matched and merged into segments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from recognition.engine.matching.hits import Hits, QueryWindows
from recognition.engine.matching.scoring import DEFAULT_PARAMS, Match, MatchParams, best_match

__all__ = ["Segment", "timeline"]


@dataclass(frozen=True)
class Segment:
    """A stretch of a long input recognised as one track."""

    track_id: int
    start_frame: int  # in the input
    end_frame: int
    offset_frames: float  # position in the track of the segment's start
    log10_p: float
    score: int

    @property
    def confidence(self) -> float:
        return float(max(0.0, 1.0 - 10.0**self.log10_p))


def timeline(
    hits: Hits,
    total_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    *,
    window_frames: int,
    hop_frames: int,
    max_gap_frames: int,
    drift_frames: int,
    tracks: int = 0,
    params: MatchParams = DEFAULT_PARAMS,
) -> list[Segment]:
    """Match consecutive windows of a long input and merge them into segments, in time order.

    Windows that name the same track with a consistent alignment (input time minus track time
    within `drift_frames`, which absorbs small speed differences) and no more than
    `max_gap_frames` apart become one segment, bounded by its first and last aligned hash.
    """
    n_windows = max(1, int(np.ceil(max(total_frames - window_frames, 0) / hop_frames)) + 1)
    matches: list[tuple[int, Match]] = []
    windows = QueryWindows(hits)
    for w in range(n_windows):
        start = w * hop_frames
        window_hits = windows.cut(start, window_frames)
        frames = min(window_frames, total_frames - start)
        match = best_match(window_hits, frames, track_frames, looks=n_windows, tracks=tracks, params=params)
        if match is not None:
            matches.append((start, match))
    segments: list[Segment] = []
    last_alignment = 0.0
    for start, match in matches:
        seg_start = start + match.first_frame
        seg_end = start + match.last_frame
        alignment = start - match.offset_frames  # input frame where the track's frame 0 would be
        if segments:
            last = segments[-1]
            if (
                last.track_id == match.track_id
                and seg_start - last.end_frame <= max_gap_frames
                and abs(alignment - last_alignment) <= drift_frames
            ):
                segments[-1] = Segment(
                    track_id=last.track_id,
                    start_frame=last.start_frame,
                    end_frame=max(last.end_frame, seg_end),
                    offset_frames=last.offset_frames,
                    log10_p=min(last.log10_p, match.log10_p),
                    score=last.score + match.score,
                )
                last_alignment = alignment
                continue
        segments.append(
            Segment(
                track_id=match.track_id,
                start_frame=seg_start,
                end_frame=seg_end,
                offset_frames=match.offset_frames + match.first_frame,
                log10_p=match.log10_p,
                score=match.score,
            )
        )
        last_alignment = alignment
    return segments
