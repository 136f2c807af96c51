"""Each voted track's best alignment and the calibrated decision on it (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from recognition.engine import arrays
from recognition.engine.matching.changes import Change, reported_change
from recognition.engine.matching.hits import Hits, QueryWindows

__all__ = ["DEFAULT_PARAMS", "Match", "MatchParams", "Ranking", "best_match", "rank_tracks", "top_tracks"]


@dataclass(frozen=True)
class MatchParams:
    # Votes are binned by their offset difference on a grid of `cells_per_frame` cells a frame,
    # and a window spans +-`tolerance_cells` around its centre. Half frames: a query fingerprinted
    # at 2 sub-frame shifts has offsets on a half-frame grid, and most of its true votes fall
    # within half a frame of the clip's alignment, so a window of 1.5 frames keeps them while
    # expecting half the chance votes of a +-1 frame one (docs/decisions.md, cells_per_frame).
    # The bound takes chance votes to fill whole and half frames alike, as the two shifts' do; a
    # window is centred on a voted cell, so for a clip fingerprinted at one shift (votes on whole
    # frames only) it covers one frame, and the bound overstates its chance votes by half.
    cells_per_frame: int = 2
    tolerance_cells: int = 1
    # Decision threshold on the bound. Real music breaks the model's independence (shared loops,
    # samples and drones align together), so the threshold is far below the 1e-3 false-match
    # rate wanted: 1e-7 is where never-indexed clips stop matching (docs/decisions.md,
    # max_false_match_rate).
    max_false_match_rate: float = 1e-7
    # Half-width, in frames, of the neighbourhood of differences that estimates the local
    # background (at least the query's own length), ~4 s; 0 turns the local estimate off. It
    # removes most false matches at the same threshold (docs/decisions.md, background_frames).
    background_frames: int = 125


DEFAULT_PARAMS = MatchParams()

_LOG10_E = np.log10(np.e)


@dataclass(frozen=True)
class Match:
    """The best-aligned track for a query, with a calibrated confidence."""

    track_id: int
    offset_frames: float  # where the query's first frame sits in the track
    score: int  # distinct hashes aligned in the best window (a decision on sketches: bits that agree)
    log10_p: float  # log10 of the false-match bound p
    first_frame: int  # query-relative frames of the first and last aligned hash
    last_frame: int
    candidates: int  # tracks that received any vote
    # How the clip was changed from the track, when a retry found it: played `speed` times as fast
    # (its time factor: 1.1 = 10 % fast) and `pitch_semitones` higher; 1 and 0 as heard.
    speed: float = 1.0
    pitch_semitones: float = 0.0

    @property
    def confidence(self) -> float:
        return float(max(0.0, 1.0 - 10.0**self.log10_p))

    @property
    def change(self) -> Change:
        """The speed and pitch change this match reports (changes.py: None within 1 % and 0.5 semitone)."""
        return reported_change(self.speed, self.pitch_semitones)


def _log10_poisson_tail(k: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """log10 P(Poisson(mu) >= k), accurate far into the tail where the probability underflows."""
    k = np.asarray(k, dtype=np.float64)
    mu = np.maximum(np.asarray(mu, dtype=np.float64), 1e-300)
    direct = special.gammainc(np.maximum(k, 1e-9), mu)  # P(X >= k) for k >= 1
    with np.errstate(divide="ignore"):
        log_direct = np.log10(direct)
    # Far tail: P(X >= k) ~= pmf(k) / (1 - mu / (k + 1)) when mu < k + 1.
    log_pmf = (-mu + k * np.log(mu) - special.gammaln(k + 1)) * _LOG10_E
    ratio = np.clip(mu / (k + 1), 0, 1 - 1e-12)
    log_tail = log_pmf - np.log10(1 - ratio)
    use_tail = (direct < 1e-250) & (mu < k + 1)
    result = np.where(use_tail, log_tail, log_direct)
    return np.where(k <= 0, 0.0, np.minimum(result, 0.0))


@dataclass(frozen=True)
class Ranking:
    """Every voted track's best alignment (rank_tracks): computed once per set of votes, it
    serves both a choice of candidates (top_tracks) and a decision (best_match)."""

    track_ids: np.ndarray
    best_diff: np.ndarray  # centre of each track's best window, in frames (a multiple of 1 / cells_per_frame)
    score: np.ndarray
    log10_p: np.ndarray  # per track, before the correction for the number of tracks and looks


def rank_tracks(
    hits: Hits,
    query_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    params: MatchParams = DEFAULT_PARAMS,
) -> Ranking:
    """Score every track with votes: best window, its count of distinct stored rows, its p-value."""
    if len(hits) == 0:
        e = np.empty(0)
        return Ranking(e.astype(np.int64), e, e.astype(np.int64), e)
    tol = params.tolerance_cells
    per_frame = params.cells_per_frame
    diff = _diff_cells(hits, per_frame)
    # A (track, difference) cell is one integer: each track owns a block of `span` differences,
    # padded by `tol` at both ends so that a cell's neighbours never fall in another track's block.
    low = int(diff.min()) - tol
    span = int(diff.max()) + tol - low + 1
    # The unit of evidence is a reference anchor frame: all hashes of one moment (a chord's notes,
    # an anchor's targets) that align together are one event, because a chance musical likeness
    # (same chord, same tempo) makes them align together too. An anchor frame votes once per
    # difference however many query hashes (repeats, sub-frame shifts) it met there.
    stored_row = hits.db_offsets.astype(np.int64)
    first_row = int(stored_row.min())
    rows_span = int(stored_row.max()) - first_row + 1
    track_ids, cells, rows = _distinct_events(hits.track_ids, diff - low, span, stored_row - first_row, rows_span)
    starts = arrays.run_starts(cells)
    cell = cells[starts]
    cell_votes = np.diff(np.concatenate((starts, [cells.size])))
    best_diff = cell[_best_windows(cell, cell_votes, span, tol)] % span + low
    # Exact score: distinct stored rows within +-tol of each track's best difference (a window's
    # sum of cell votes may count a row twice when sub-frame shifts put it in two adjacent cells).
    event_track = cells // span
    near = np.abs(cells % span + low - best_diff[event_track]) <= tol
    near_rows = arrays.distinct(event_track[near] * rows_span + rows[near])
    score = np.bincount(near_rows // rows_span, minlength=track_ids.size)
    events = np.bincount(event_track, minlength=track_ids.size)
    # A track whose best window holds one row has a bound of 1 (log10 0) whatever its length and
    # background: with a window of 3 cells or more, P(a chance vote in it) times the positions is
    # more than 1. Nearly every track a never-indexed clip votes for in a large catalog is such,
    # so the bound (lengths, background, tail) is computed for the others only (docs/decisions.md,
    # "Bounds of tracks with one row").
    log10_p = np.zeros(track_ids.size)
    scored = np.flatnonzero(score >= 2) if tol >= 1 else np.arange(track_ids.size)
    if scored.size:
        log10_p[scored] = _log10_bounds(
            scored,
            score=score,
            events=events,
            best_diff=best_diff,
            cell=cell,
            cell_votes=cell_votes,
            track_ids=track_ids,
            low=low,
            span=span,
            query_frames=query_frames,
            track_frames=track_frames,
            params=params,
        )
    return Ranking(track_ids=track_ids, best_diff=best_diff / per_frame, score=score, log10_p=log10_p)


def _log10_bounds(
    scored: np.ndarray,
    *,
    score: np.ndarray,
    events: np.ndarray,
    best_diff: np.ndarray,
    cell: np.ndarray,
    cell_votes: np.ndarray,
    track_ids: np.ndarray,
    low: int,
    span: int,
    query_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    params: MatchParams,
) -> np.ndarray:
    """log10 of the false-match bound of the tracks at `scored` (positions in `track_ids`),
    before the correction for the number of tracks and looks."""
    tol = params.tolerance_cells
    per_frame = params.cells_per_frame
    ids = track_ids[scored]
    if isinstance(track_frames, Mapping):
        lengths = np.array([track_frames.get(int(t), 0) for t in ids], dtype=np.float64)
    else:
        lengths = np.asarray(track_frames(ids), dtype=np.float64)
    positions = (np.maximum(lengths, 1) + max(query_frames, 1)) * per_frame
    width = 2 * tol + 1
    events = events[scored]
    best = best_diff[scored]
    mu = width * events / positions
    if params.background_frames:
        # Chance votes are not spread evenly over a track: a passage that looks like anything
        # (a drone, a noise texture, a busy loop in the query's key and tempo) collects them.
        # So the background is also measured around each track's best window, from the votes
        # on the neighbouring differences (as a CFAR detector does), and the larger rate wins.
        reach = max(params.background_frames, query_frames) * per_frame
        cumulative = np.concatenate(([0], np.cumsum(cell_votes)))
        block = scored.astype(np.int64) * span - low

        def votes_between(first_diff: np.ndarray, last_diff: np.ndarray) -> np.ndarray:
            # Clipped to the track's own block of differences, which holds all of its cells.
            first = np.searchsorted(cell, block + np.maximum(first_diff, low), side="left")
            last = np.searchsorted(cell, block + np.minimum(last_diff, low + span - 1), side="right")
            return cumulative[last] - cumulative[first]

        around = votes_between(best - reach, best + reach)
        inside = votes_between(best - tol, best + tol)
        mu = np.maximum(mu, width * (around - inside) / (2 * reach + 1 - width))
    mu = np.minimum(mu, events)
    return np.minimum(_log10_poisson_tail(score[scored], mu) + np.log10(positions), 0.0)


def _best_windows(cell: np.ndarray, cell_votes: np.ndarray, span: int, tol: int) -> np.ndarray:
    """Where in `cell` (sorted, distinct) each track's best window of +-tol differences is
    centred; on a tie, at the smallest difference."""
    window = cell_votes.copy()
    for shift in range(1, tol + 1):
        # cell - shift can only sit up to `shift` places before a cell, cell + shift as far after.
        for step in range(1, min(shift, cell.size - 1) + 1):
            below = cell[step:] - shift == cell[:-step]
            window[step:][below] += cell_votes[:-step][below]
            above = cell[:-step] + shift == cell[step:]
            window[:-step][above] += cell_votes[step:][above]
    cell_track = cell // span
    best_window = np.maximum.reduceat(window, arrays.run_starts(cell_track))
    best = np.flatnonzero(window == best_window[cell_track])
    return best[arrays.run_starts(cell_track[best])]


def _distinct_events(
    track: np.ndarray, cell: np.ndarray, span: int, row: np.ndarray, rows_span: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The voted tracks (sorted) and the distinct (track position * span + cell, stored row)
    events, sorted, of hits on (track id, cell within `span`, row within `rows_span`): by one sort
    of one key when track id, cell and row fit in 63 bits (sorting the track ids apart and a
    lexsort of two keys cost several times more on a large catalog's votes), else by a lexsort."""
    first_track = int(track.min())
    tracks_span = int(track.max()) - first_track + 1
    if tracks_span * span * rows_span < 1 << 62:
        events = arrays.distinct(((track - first_track) * span + cell) * rows_span + row)
        at, rows = np.divmod(events, rows_span)
        track_of, cell = np.divmod(at, span)
        starts = arrays.run_starts(track_of)
        position = np.repeat(np.arange(starts.size), np.diff(np.append(starts, track_of.size)))
        return track_of[starts] + first_track, position * span + cell, rows
    track_ids = arrays.distinct(track)
    at = np.searchsorted(track_ids, track).astype(np.int64) * span + cell  # np.unique's inverse
    if int(at.max()) < (1 << 62) // rows_span:
        events = arrays.distinct(at * rows_span + row)
        return track_ids, events // rows_span, events % rows_span
    order = np.lexsort((row, at))
    at, row = at[order], row[order]
    first = np.r_[True, (at[1:] != at[:-1]) | (row[1:] != row[:-1])]
    return track_ids, at[first], row[first]


def _diff_cells(hits: Hits, per_frame: int) -> np.ndarray:
    """Stored offset minus query offset, rounded to the grid of `per_frame` cells a frame (query
    offsets may be fractional)."""
    return np.rint((hits.db_offsets.astype(np.float64) - hits.query_offsets) * per_frame).astype(np.int64)


def best_match(
    hits: Hits,
    query_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    *,
    looks: int = 1,
    tracks: int = 0,
    share: float = 1.0,
    params: MatchParams = DEFAULT_PARAMS,
    ranking: Ranking | None = None,
) -> Match | None:
    """Return the best-aligned track if its false-match bound is below the threshold, else None.

    The bound is corrected for every track with votes, or for `tracks` when more: hits that were
    looked up for a few candidates chosen from the whole catalog count the whole catalog. A
    decision that is one of several on the same clip spends only its `share` of the threshold
    (a weighted Bonferroni bound: the shares of all of them sum to 1). `ranking`: these hits'
    rank_tracks, when the caller has it already.
    """
    if len(hits) == 0:
        return None
    if ranking is None:
        ranking = rank_tracks(hits, query_frames, track_frames, params)
    best = int(np.argmin(ranking.log10_p))
    log10_p = float(ranking.log10_p[best] + np.log10(max(ranking.track_ids.size, tracks) * max(looks, 1) / share))
    log10_p = min(log10_p, 0.0)
    if log10_p > np.log10(params.max_false_match_rate):
        return None
    track_id = int(ranking.track_ids[best])
    per_frame = params.cells_per_frame
    cell = round(float(ranking.best_diff[best]) * per_frame)
    aligned = (hits.track_ids == track_id) & (np.abs(_diff_cells(hits, per_frame) - cell) <= params.tolerance_cells)
    aligned_diffs = hits.db_offsets[aligned].astype(np.float64) - hits.query_offsets[aligned]
    return Match(
        track_id=track_id,
        offset_frames=float(np.median(aligned_diffs)),
        score=int(ranking.score[best]),
        log10_p=log10_p,
        first_frame=int(np.floor(hits.query_offsets[aligned].min())),
        last_frame=int(np.ceil(hits.query_offsets[aligned].max())),
        candidates=int(ranking.track_ids.size),
    )


def top_tracks(
    hits: Hits,
    query_frames: int,
    track_frames: Callable[[np.ndarray], np.ndarray] | Mapping[int, int],
    count: int,
    *,
    window_frames: int | None = None,
    params: MatchParams = DEFAULT_PARAMS,
    ranking: Ranking | None = None,
) -> np.ndarray:
    """The `count` tracks with the strongest alignments (smallest bound), best first.

    With `window_frames`, the best `count` of each window (half-overlapping, as the timeline
    matches them) are pooled: a long input holds several tracks, each strong in its own stretch.
    Without, `ranking` may give these hits' rank_tracks, when the caller has it already.
    """
    if len(hits) == 0:
        return np.empty(0, np.int64)
    if window_frames is None:
        if ranking is None:
            ranking = rank_tracks(hits, query_frames, track_frames, params)
        return ranking.track_ids[np.lexsort((-ranking.score, ranking.log10_p))[:count]]
    hop = max(1, window_frames // 2)
    windows = QueryWindows(hits)
    first = int(windows.q_sorted[0] // hop) * hop
    chosen: list[np.ndarray] = []
    for start in range(first, int(windows.q_sorted[-1]) + 1, hop):
        window = windows.cut(start, window_frames)
        if len(window):
            chosen.append(top_tracks(window, window_frames, track_frames, count, params=params))
    return arrays.distinct(np.concatenate(chosen)) if chosen else np.empty(0, np.int64)
