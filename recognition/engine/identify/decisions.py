"""The calibrated decisions on a clip's votes, and their shares of the one false-match bound.

The decision is taken on the candidates' pairs (many and robust) and on the triplets (few, but
~10 bits more selective: in a clip of a second or two a handful of aligned triplets can be
stronger evidence than its pairs), and the stronger answers; when neither clears the bound, the
alignments the votes propose are checked against the tracks' frame sketches (16 bits a frame of
spectral shape, where the landmarks give a few dozen peaks a second). Each decision spends its
share of the threshold, so that together they stay within it, and each bound counts the whole
catalog: stage 1 chose the candidates from all of it.
"""

from __future__ import annotations

from collections.abc import Callable

from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.index import HashIndex

__all__ = ["PAIR_SHARE", "SKETCH_SHARE", "TRIPLET_SHARE", "check_sketches", "decide"]

# The false-match threshold is shared by the decisions on a clip (a weighted Bonferroni bound):
# pairs decide nearly every clip of 3 s or more, so they keep most of it; triplets, stronger in
# clips of a second or two, take a fifth, since a larger share would tighten the pair bound that
# long noisy clips need; sketches, checked only when both fail, take a tenth, one order of
# magnitude off a margin that is tens of orders for the same audio (docs/decisions.md,
# PAIR_SHARE).
PAIR_SHARE = 0.7
TRIPLET_SHARE = 0.2
SKETCH_SHARE = 0.1


def decide(
    votes: matching.Votes,
    n_frames: int,
    looks: int,
    *,
    index: HashIndex,
    params: matching.MatchParams,
    two_stage: bool,
    sketches: bool,
    query: Callable[[], sk.QuerySketch] | None = None,
    measure_speed: bool = True,
) -> matching.Match | None:
    """Return the stronger of the calibrated decisions on pairs and on triplets (two stages), each
    spending its share of the threshold; when neither is sure and `sketches` allows, the check on
    sketches of the clip's sketch, which `query` makes (only then: most clips of a few seconds
    are decided on their pairs). The match's speed is the one its votes drift at, when they
    measure it (matching.measured: a clip a few percent fast may match as heard), else 1
    (always 1 without `measure_speed`)."""
    tracks = index.track_count()
    pair_ranking = matching.rank_tracks(votes.pairs, n_frames, index.track_frames, params) if len(votes.pairs) else None
    if two_stage:
        kinds = [(votes.pairs, PAIR_SHARE, pair_ranking), (votes.triplets, TRIPLET_SHARE, votes.triplet_ranking)]
    else:
        kinds = [(votes.pairs, 1, pair_ranking)]
    found = [
        matching.best_match(
            hits,
            n_frames,
            index.track_frames,
            looks=looks,
            tracks=tracks,
            share=share,
            params=params,
            ranking=ranking,
        )
        for hits, share, ranking in kinds
    ]
    match = min((m for m in found if m is not None), key=lambda m: m.log10_p, default=None)
    if match is None and query is not None and sketches and two_stage:
        match = check_sketches(
            query(),
            votes,
            index=index,
            params=params,
            pair_ranking=pair_ranking,
            n_frames=n_frames,
            looks=looks,
            tracks=tracks,
        )
    if match is not None and measure_speed:  # its speed as its votes drift (matching/drift.py), when they say it
        match = matching.measured(match, n_frames, votes.pairs, votes.triplets)
    return match


def check_sketches(
    query: sk.QuerySketch,
    votes: matching.Votes,
    *,
    index: HashIndex,
    params: matching.MatchParams,
    pair_ranking: matching.Ranking | None,
    n_frames: int,
    looks: int,
    tracks: int,
) -> matching.Match | None:
    """Return the decision on sketches (recognition/engine/sketch/check.py), with SKETCH_SHARE of
    the bound."""
    return sk.check_votes(
        query,
        votes,
        index=index,
        pair_ranking=pair_ranking,
        n_frames=n_frames,
        looks=looks,
        tracks=tracks,
        share=SKETCH_SHARE,
        max_false_match_rate=params.max_false_match_rate,
    )
