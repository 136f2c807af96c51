"""Which tracks a monitor's window of votes holds for sure, each at its alignment.

Votes here carry query offsets in stream frames (float64, however long the stream). An
alignment is a `lag`: the track's frame minus the stream's frame, constant through a play.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import PAIR_SHARE, TRIPLET_SHARE, Identifier

__all__ = ["SHARED_PEAKS", "Found", "other_alignments", "shifted", "since", "sure_on_sketches", "sure_tracks"]

# A track sure in a decision is the echo of one already playing or stronger (the same recording
# stored twice, a remaster) when more than this share of the stream peaks its aligned pairs are
# anchored on anchor the other's too: two releases of one recording shared 6-94 % of them, two
# songs crossfaded at most 2 % (docs/decisions.md, SHARED_PEAKS).
SHARED_PEAKS = 0.04
# Aligned votes with no other within this many frames (a second) are chance, not the track:
# they do not move a play's start or end.
LONE_VOTE_FRAMES = 31


@dataclass(frozen=True)
class Found:
    """A track sure in one decision at one alignment (`new`: not the alignment of its open play)."""

    track_id: int
    new: bool
    lag: float
    frames: np.ndarray  # stream frames of its aligned votes, sorted, lone ones left out
    end_frame: float  # stream frame of the last peak its aligned votes hold
    peaks: np.ndarray  # the stream peaks its aligned pairs are anchored on, as (frame, bin) keys
    log10_p: float


def sure_tracks(
    engine: Identifier,
    pair_hits: matching.Hits,
    triplet_hits: matching.Hits,
    *,
    start: float,
    n_frames: int,
    looks: int,
    playing: Mapping[int, bool],
) -> list[Found]:
    """Every track sure in the window that starts at stream frame `start`, on its pairs or its
    triplets, each spending its share of the bound as Identifier.decide does, with the whole
    catalog (and any track's second alignment) and `looks` counted: a Bonferroni bound over
    tracks holds for each track sure as it does for the best alone. A track whose aligned pairs
    rest on the stream peaks of one playing (`playing`) or stronger is left out.

    Votes of a playing track at another alignment than its play's come under the track's other
    id (`other_alignments`), so that a replay is decided apart from the play it follows."""
    params = engine.match_params
    ids = np.union1d(pair_hits.track_ids, triplet_hits.track_ids)
    lengths = dict(zip(ids.tolist(), engine.index.track_frames(_real(ids)).tolist(), strict=True))
    tracks = engine.index.track_count() + len(playing)
    best: dict[int, tuple[float, float]] = {}
    for hits, share in ((pair_hits, PAIR_SHARE), (triplet_hits, TRIPLET_SHARE)):
        if not len(hits):
            continue
        ranking = matching.rank_tracks(shifted(hits, start), n_frames, lengths, params)
        bound = ranking.log10_p + np.log10(max(ranking.track_ids.size, tracks) * looks / share)
        for i in np.flatnonzero(bound <= np.log10(params.max_false_match_rate)):
            track = int(ranking.track_ids[i])
            if track not in best or bound[i] < best[track][0]:
                best[track] = (float(bound[i]), float(ranking.best_diff[i]) - start)
    found = [
        aligned(engine, pair_hits, triplet_hits, track=track, lag=lag, log10_p=log10_p, playing=playing)
        for track, (log10_p, lag) in best.items()
    ]
    found.sort(key=lambda f: (f.new, f.log10_p))
    kept: list[Found] = []
    for f in found:
        if not echoes(f, kept):
            kept.append(f)
    return kept


def aligned(
    engine: Identifier,
    pair_hits: matching.Hits,
    triplet_hits: matching.Hits,
    *,
    track: int,
    lag: float,
    log10_p: float,
    playing: Mapping[int, bool],
    tolerance: float | None = None,
) -> Found:
    """`track` (or its other id) at `lag`: its aligned votes, where they end, their peaks."""
    params = engine.match_params
    if tolerance is None:
        tolerance = params.tolerance_cells / params.cells_per_frame + 1e-6
    pairs = _at(pair_hits.select(pair_hits.track_ids == track), lag, tolerance)
    triplets = _at(triplet_hits.select(triplet_hits.track_ids == track), lag, tolerance)
    every = matching.Hits.concatenate([pairs, triplets])
    if len(every):
        lag = float(np.median(every.db_offsets - every.query_offsets))
    frames = _dense(np.sort(every.query_offsets))
    # A pair's target is the last peak it holds: dt frames after its anchor.
    dt_mask = (1 << engine.params.hash_bits[1]) - 1
    targets = pairs.query_offsets + (pairs.hashes & dt_mask)
    in_play = targets[(pairs.query_offsets >= frames[0]) & (pairs.query_offsets <= frames[-1])] if frames.size else []
    end = float(np.max(in_play)) if len(in_play) else float(frames[-1]) if frames.size else 0.0
    real = int(_real(np.array([track]))[0])
    return Found(
        track_id=real,
        new=track < 0 or real not in playing,
        lag=lag,
        frames=frames,
        end_frame=end,
        peaks=stream_peaks(engine, pairs),
        log10_p=log10_p,
    )


def echoes(found: Found, others: list[Found]) -> bool:
    """Whether most of the stream peaks under `found` are under one of `others` too (SHARED_PEAKS)."""
    if not found.peaks.size or not others:
        return False
    claimed = np.concatenate([o.peaks for o in others])
    return bool(np.isin(found.peaks, claimed).mean() > SHARED_PEAKS)


def stream_peaks(engine: Identifier, pairs: matching.Hits) -> np.ndarray:
    """The stream peaks (whole frame, bin pair) the pair votes are anchored on: two tracks sure on
    mostly the same peaks are one recording stored twice."""
    frames = np.rint(pairs.query_offsets).astype(np.int64)
    return np.unique(frames << 16 | pairs.hashes >> (sum(engine.params.hash_bits) + 1))


def sure_on_sketches(
    engine: Identifier,
    query: sk.QuerySketch,
    first: int,
    pair_hits: matching.Hits,
    triplet_hits: matching.Hits,
    *,
    looks: int,
    tracks: int,
    known: list[Found],
) -> Found | None:
    """A track not sure on its landmarks yet, sure on the sketch of the latest audio (`query`,
    its frame 0 at stream frame `first`) checked against the alignments the votes propose
    (Identifier.check_sketches, with SKETCH_SHARE of the bound). The votes passed in are those of
    tracks neither playing nor sure: sketches only hurry a new track; an echo of `known` is none."""
    votes = matching.Votes(shifted(pair_hits, first), shifted(triplet_hits, first))
    match = engine.check_sketches(query, votes, pair_ranking=None, n_frames=query.n_frames, looks=looks, tracks=tracks)
    if match is None:
        return None
    found = aligned(
        engine,
        pair_hits,
        triplet_hits,
        track=match.track_id,
        lag=match.offset_frames - first,
        log10_p=match.log10_p,
        playing={},
        tolerance=1.0,  # a vote's difference is a whole frame within +-1 of the sketch's
    )
    if not found.frames.size:  # no vote there: the track's audio from the query's first frame,
        begun = max(float(first), -found.lag)  # or from the track's start if it began later
        found = Found(found.track_id, True, found.lag, np.array([begun]), begun, found.peaks, found.log10_p)
    return None if echoes(found, known) else found


def other_alignments(
    hits: matching.Hits, plays: Mapping[int, float], ended: list[tuple[int, float]], drift_frames: float
) -> matching.Hits:
    """`hits` with the votes of a playing track (`plays`: its lag) at another alignment under the
    track's other id, -1 - id, and those at the alignment of a play just `ended` left out."""
    if not plays and not ended:
        return hits
    ids = hits.track_ids.copy()
    hit_lag = hits.db_offsets - hits.query_offsets
    keep = np.ones(ids.size, bool)
    for track, lag in ended:
        keep &= ~((ids == track) & (np.abs(hit_lag - lag) <= drift_frames))
    for track, lag in plays.items():
        ids[(ids == track) & (np.abs(hit_lag - lag) > drift_frames)] = -1 - track
    return matching.Hits(hits.hashes[keep], ids[keep], hits.db_offsets[keep], hits.query_offsets[keep])


def since(hits: matching.Hits, start: float) -> matching.Hits:
    """The votes from stream frame `start` on."""
    return hits.select(hits.query_offsets >= start)


def shifted(hits: matching.Hits, start: float) -> matching.Hits:
    """`hits` with query offsets counted from stream frame `start`, as a clip's are."""
    return matching.Hits(hits.hashes, hits.track_ids, hits.db_offsets, hits.query_offsets - start)


def _at(hits: matching.Hits, lag: float, tolerance: float) -> matching.Hits:
    return hits.select(np.abs(hits.db_offsets - hits.query_offsets - lag) <= tolerance)


def _dense(frames: np.ndarray) -> np.ndarray:
    """Sorted `frames` less those with no vote at another frame within LONE_VOTE_FRAMES (all, if
    none has one): a chance vote often comes with others of the same anchor, never with others
    of the peaks around it."""
    moments = np.unique(np.rint(frames))
    if moments.size < 2:
        return frames
    close = np.diff(moments) <= LONE_VOTE_FRAMES
    kept = moments[np.r_[False, close] | np.r_[close, False]]
    return frames[np.isin(np.rint(frames), kept)] if kept.size else frames


def _real(ids: np.ndarray) -> np.ndarray:
    """Track ids, with a playing track's other alignment (-1 - id) mapped back to the track."""
    return np.where(ids < 0, -1 - ids, ids)
