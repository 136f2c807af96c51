"""A match's speed measured from its own votes: how its alignment drifts across the clip.

A clip played `s` times as fast as the track holds the track's frame `s * q` at its frame `q`,
so its true votes do not share one offset difference: `db_offset - query_offset` moves by
`(s - 1)` a frame of the clip. Within the hashes' tolerance (about 2.5 %) such a clip still
matches as heard, on the votes of the stretch where the difference sits in the best window,
and without this measure it would report speed 1. The votes of the winning track near its best
difference are fitted with a line (a robust slope, then least squares on the votes near it),
and the slope is the clip's speed when enough votes over enough of the clip pin it down.
numpy only; no Django.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from recognition.engine.matching.hits import Hits
from recognition.engine.matching.scoring import Match

__all__ = [
    "DRIFT_INLIER_FRAMES",
    "DRIFT_REACH",
    "DRIFT_SAMPLE",
    "MAX_SPEED_ERROR",
    "MIN_DRIFT_SPAN",
    "MIN_DRIFT_VOTES",
    "MIN_ON_LINE_SHARE",
    "measured",
]

# The votes fitted: those of the winning track within this share of the clip's length of its
# best difference, wide enough for the drift of a clip 3 % fast or slow wherever along the
# clip the best window sits (the near retries cover up to about 2.5 %: a clip is found as heard
# or at 0.98-1.02 with what is left of its drift inside this reach), and at least 2 frames.
DRIFT_REACH = 0.03
# A vote is on the line when within this many frames of it: stored offsets are whole frames
# and a query's sit on half frames, so a true vote lies within about 0.75 frame of it. Most of
# the votes near the best difference must be on it (a match's are; chance votes scattered
# near it put a fraction on any line).
DRIFT_INLIER_FRAMES = 1.0
MIN_ON_LINE_SHARE = 0.5
# A speed is measured only from at least this many distinct votes on the line, spanning at least
# this share of the clip, and only when the slope's standard error is at most MAX_SPEED_ERROR: a
# clip as recorded reports a change only from 1 % (changes.py), almost four times that error.
# On 3-5 s clips of music never used for tuning, 2-2.5 % fast or slow, these settings told the
# speed of more of them within 1 % than 20 votes and 0.15 % did, and no clip as recorded
# reported a change under any setting swept (docs/decisions.md, MAX_SPEED_ERROR).
MIN_DRIFT_VOTES = 12
MIN_DRIFT_SPAN = 0.5
MAX_SPEED_ERROR = 0.0025
# Votes a robust slope is taken from (evenly spread over the clip): its cost grows with their
# square, and a few hundred pin a slope far below MAX_SPEED_ERROR.
DRIFT_SAMPLE = 200


def measured(match: Match, n_frames: int, *hits: Hits) -> Match:
    """`match` with its speed multiplied by the drift its votes in `hits` (the clip's, with the
    query offsets the match was decided on: pairs, triplets or both) show, and its first and last frame those of the
    votes on the line, when the drift is measured with confidence (MAX_SPEED_ERROR); else
    `match` itself. Which track, its offset and its bound are left as they are."""
    fit = drift(match.track_id, match.offset_frames, n_frames, *hits)
    if fit is None:
        return match
    slope, first, last = fit
    return replace(
        match,
        speed=match.speed * (1.0 + slope),
        first_frame=min(match.first_frame, first),
        last_frame=max(match.last_frame, last),
    )


def drift(track_id: int, offset_frames: float, n_frames: int, *hits: Hits) -> tuple[float, int, int] | None:
    """(slope of the track's offset difference against the query's frame, first and last query
    frame of the votes on the fitted line) of `track_id`'s votes in `hits` near `offset_frames`,
    or None when they do not measure it with confidence."""
    q, d = _near_votes(track_id, offset_frames, max(DRIFT_REACH * n_frames, 2.0), hits)
    slope = _theil_sen(q, d, min_gap=0.1 * n_frames) if q.size >= MIN_DRIFT_VOTES else None
    if slope is None:
        return None
    on_line = np.abs(d - float(np.median(d - slope * q)) - slope * q) <= DRIFT_INLIER_FRAMES
    share = float(on_line.mean())
    q, d = q[on_line], d[on_line]
    if share < MIN_ON_LINE_SHARE or q.size < MIN_DRIFT_VOTES or q.max() - q.min() < MIN_DRIFT_SPAN * n_frames:
        return None
    # Least squares on the votes on the line, and its standard error.
    q_centred = q - q.mean()
    spread = float(q_centred @ q_centred)
    slope = float(q_centred @ (d - d.mean())) / spread
    residual = d - d.mean() - slope * q_centred
    error = np.sqrt(float(residual @ residual) / (q.size - 2) / spread)
    if error > MAX_SPEED_ERROR:
        return None
    return slope, int(np.floor(q.min())), int(np.ceil(q.max()))


def _near_votes(
    track_id: int, offset_frames: float, reach: float, hits: tuple[Hits, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(query frame, offset difference) of the track's votes within `reach` of `offset_frames`,
    each once (an anchor's targets give the same point many times), by query frame."""
    found = [np.empty((0, 2))]
    for part in hits:
        mine = part.track_ids == track_id
        q = part.query_offsets[mine].astype(np.float64)
        diff = part.db_offsets[mine] - q
        near = np.abs(diff - offset_frames) <= reach
        found.append(np.stack([q[near], diff[near]], axis=1))
    points = np.unique(np.concatenate(found), axis=0)
    return points[:, 0], points[:, 1]


def _theil_sen(q: np.ndarray, d: np.ndarray, *, min_gap: float) -> float | None:
    """The median of the slopes between every two of (at most DRIFT_SAMPLE) points at least
    `min_gap` apart in q (closer ones give slopes too noisy to vote), or None without any."""
    if q.size > DRIFT_SAMPLE:
        keep = np.linspace(0, q.size - 1, DRIFT_SAMPLE).round().astype(np.int64)
        order = np.argsort(q, kind="stable")[keep]
        q, d = q[order], d[order]
    i, j = np.triu_indices(q.size, k=1)
    gap = q[j] - q[i]
    apart = np.abs(gap) >= max(min_gap, 1.0)
    if not apart.any():
        return None
    return float(np.median((d[j] - d[i])[apart] / gap[apart]))
