"""Long inputs: consecutive windows matched and merged into segments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from recognition.engine.matching.changes import Change, reported_change
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
    # How the stretch was changed from the track (Match.speed, Match.pitch_semitones): its speed
    # measured from how its windows' alignment moved when they span `speed_span_frames`, else the
    # median of its windows' own estimates, as is its pitch; 1 and 0 as recorded.
    speed: float = 1.0
    pitch_semitones: float = 0.0

    @property
    def confidence(self) -> float:
        return float(max(0.0, 1.0 - 10.0**self.log10_p))

    @property
    def change(self) -> Change:
        """The speed and pitch change this segment reports (changes.py: None within 1 % and 0.5 semitone)."""
        return reported_change(self.speed, self.pitch_semitones)


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
    speed_span_frames: int = 0,
    params: MatchParams = DEFAULT_PARAMS,
) -> list[Segment]:
    """Match consecutive windows of a long input and merge them into segments, in time order.

    Windows that name the same track with a consistent alignment (input time minus track time
    within `drift_frames`, which absorbs small speed differences) and no more than
    `max_gap_frames` apart become one segment, bounded by its first and last aligned hash. A
    segment whose windows start at least `speed_span_frames` apart (0: never) gets its speed
    from how its alignment moved: the slope of the track's position against the input's.
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
    members: list[list[tuple[int, Match]]] = []  # each segment's windows
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
                members[-1].append((start, match))
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
        members.append([(start, match)])
        last_alignment = alignment
    changed = [_speed_and_pitch(windows_of, speed_span_frames) for windows_of in members]
    return [
        replace(segment, speed=speed, pitch_semitones=pitch)
        for segment, (speed, pitch) in zip(segments, changed, strict=True)
    ]


def _speed_and_pitch(windows: list[tuple[int, Match]], speed_span_frames: int) -> tuple[float, float]:
    """A segment's speed and pitch from its windows (input start, match): the speed is the slope
    of each window's position in the track against its start in the input when the windows span
    `speed_span_frames` (a match's offset is where the window's first frame sits in the track,
    however the window was matched), else the median of the windows' own estimates."""
    starts = np.array([start for start, _ in windows], np.float64)
    positions = np.array([match.offset_frames for _, match in windows], np.float64)
    if speed_span_frames > 0 and starts[-1] - starts[0] >= speed_span_frames:
        speed = float(np.polyfit(starts, positions, 1)[0])
    else:
        speed = float(np.median([match.speed for _, match in windows]))
    return speed, float(np.median([match.pitch_semitones for _, match in windows]))
