"""Long inputs: consecutive windows matched and merged into segments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from recognition.engine.matching.changes import Change, reported_change
from recognition.engine.matching.drift import measured
from recognition.engine.matching.hits import Hits, QueryWindows
from recognition.engine.matching.scoring import DEFAULT_PARAMS, Match, MatchParams, best_match

__all__ = ["Segment", "segments", "timeline", "window_count", "window_matches"]


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


def window_count(total_frames: int, window_frames: int, hop_frames: int) -> int:
    """How many windows of `window_frames`, `hop_frames` apart, a long input of `total_frames` has."""
    return max(1, int(np.ceil(max(total_frames - window_frames, 0) / hop_frames)) + 1)


def window_matches(
    hits: Hits,
    total_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    *,
    window_frames: int,
    hop_frames: int,
    tracks: int = 0,
    looks: int = 0,
    params: MatchParams = DEFAULT_PARAMS,
    measure_speed: bool = True,
) -> list[Match | None]:
    """The decision on each window of a long input (window `w` starts at `w * hop_frames`), each
    counting `looks` (0: one per window), its speed measured from its votes' drift when they
    say it (drift.py; 1 without `measure_speed`)."""
    n_windows = window_count(total_frames, window_frames, hop_frames)
    found: list[Match | None] = []
    windows = QueryWindows(hits)
    for w in range(n_windows):
        start = w * hop_frames
        window_hits = windows.cut(start, window_frames)
        frames = min(window_frames, total_frames - start)
        match = best_match(window_hits, frames, track_frames, looks=looks or n_windows, tracks=tracks, params=params)
        found.append(match if match is None or not measure_speed else measured(match, frames, window_hits))
    return found


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
    """Match consecutive windows of a long input and merge them into segments, in time order
    (`window_matches`, then `segments`)."""
    found = window_matches(
        hits,
        total_frames,
        track_frames,
        window_frames=window_frames,
        hop_frames=hop_frames,
        tracks=tracks,
        params=params,
    )
    return segments(
        [(w * hop_frames, match) for w, match in enumerate(found) if match is not None],
        max_gap_frames=max_gap_frames,
        drift_frames=drift_frames,
        speed_span_frames=speed_span_frames,
    )


def segments(
    matches: list[tuple[int, Match]], *, max_gap_frames: int, drift_frames: int, speed_span_frames: int = 0
) -> list[Segment]:
    """Merge the matched windows of a long input, (input start, match) in time order, into segments.

    Windows that name the same track with a consistent alignment and no more than
    `max_gap_frames` apart become one segment, bounded by its first and last aligned hash.
    Consistent: the window's position in the track is within `drift_frames` of where the
    previous window's and the window's speed put it (at speed 1, the input's time minus the
    track's is the same; `drift_frames` absorbs what a window's offset and speed are off by).
    A segment whose windows start at least `speed_span_frames` apart (0: never) gets its speed
    from how its alignment moved: the slope of the track's position against the input's.
    """
    found: list[Segment] = []
    members: list[list[tuple[int, Match]]] = []  # each segment's windows
    for start, match in matches:
        seg_start = start + match.first_frame
        seg_end = start + match.last_frame
        if found:
            last = found[-1]
            last_start, last_match = members[-1][-1]
            expected = last_match.offset_frames + match.speed * (start - last_start)
            if (
                last.track_id == match.track_id
                and seg_start - last.end_frame <= max_gap_frames
                and abs(match.offset_frames - expected) <= drift_frames
            ):
                found[-1] = replace(
                    last,
                    end_frame=max(last.end_frame, seg_end),
                    log10_p=min(last.log10_p, match.log10_p),
                    score=last.score + match.score,
                )
                members[-1].append((start, match))
                continue
        found.append(
            Segment(
                track_id=match.track_id,
                start_frame=seg_start,
                end_frame=seg_end,
                # Where the segment's first aligned hash sits in the track: its window's first
                # frame's place, plus the hash's frames in the window at the window's speed.
                offset_frames=match.offset_frames + match.speed * match.first_frame,
                log10_p=match.log10_p,
                score=match.score,
            )
        )
        members.append([(start, match)])
    changed = [_speed_and_pitch(windows_of, speed_span_frames) for windows_of in members]
    return [
        replace(segment, speed=speed, pitch_semitones=pitch)
        for segment, (speed, pitch) in zip(found, changed, strict=True)
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
