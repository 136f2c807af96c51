"""The third decision: the alignments a clip's votes propose, checked against frame sketches.

Taken only when the calibrated decisions on pairs and on triplets both fail (a clip of a second
or two, or a noisy one), with the votes those decisions already have. No Django: the sketches
are read through the HashIndex the caller passes in.
"""

from __future__ import annotations

import numpy as np

from recognition.engine import arrays, matching
from recognition.engine.index import HashIndex
from recognition.engine.sketch.alignment import align
from recognition.engine.sketch.frames import SKETCH, QuerySketch

__all__ = ["SKETCH_FRAMES", "check_votes"]

# Alignments checked against sketches, counted in frames compared (alignments x the clip's
# frames), so that the work is bounded whatever the clip's length or the catalog's size: every
# candidate's best window of pair votes, then the (track, offset) cells with the most triplet
# votes, then those with the most pair votes (`_proposed_alignments`). 8,192 frames cover every
# cell of a 1 s clip's triplet votes and the strongest few dozen of a 5 s clip's; every cell
# counts, because a clip stage 1 ranks wrongly (a repeated passage) still has a vote at its
# true place (docs/decisions.md, SKETCH_FRAMES).
SKETCH_FRAMES = 8192


def check_votes(
    query: QuerySketch,
    votes: matching.Votes,
    *,
    index: HashIndex,
    pair_ranking: matching.Ranking | None,
    n_frames: int,
    looks: int,
    tracks: int,
    share: float,
    max_false_match_rate: float,
) -> matching.Match | None:
    """Check the alignments the votes propose against the tracks' sketches (SKETCH_FRAMES);
    return the one least likely by chance if it clears its `share` of the bound.

    The bound counts every offset of the track and every sub-frame shift, as if all had been
    compared, and every track of the catalog: which few were compared does not matter.
    """
    if not query.usable:
        return None
    track_ids, diffs = _proposed_alignments(votes, pair_ranking, SKETCH_FRAMES // max(query.n_frames, 1))
    if track_ids.size == 0:
        return None
    ranking = votes.triplet_ranking
    voted = ranking.track_ids.size if ranking is not None else arrays.distinct(votes.triplets.track_ids).size
    # A vote's difference is a whole frame within +-1 of the true one, which is fractional:
    # the clip's frame 0 may sit 1 frame before to 2 after it (shifts add up to 3/4 frame).
    first = diffs - 1
    alignments = align(query, index.sketch_slices(track_ids, first, query.n_frames + 3))
    positions = np.maximum(index.track_frames(track_ids), 1) + max(n_frames, 1)
    comparisons = max(voted, tracks, 1) * max(looks, 1) * SKETCH.query_shifts / share
    log10_p = np.minimum(alignments.log10_chance + np.log10(positions) + np.log10(comparisons), 0.0)
    best = int(np.argmin(log10_p))
    if log10_p[best] > np.log10(max_false_match_rate):
        return None
    return matching.Match(
        track_id=int(track_ids[best]),
        offset_frames=float(first[best] + alignments.offset_frames[best]),
        score=int(alignments.bits[best] - alignments.errors[best]),
        log10_p=float(log10_p[best]),
        first_frame=0,
        last_frame=query.n_frames,
        candidates=voted,
    )


def _proposed_alignments(
    votes: matching.Votes, pair_ranking: matching.Ranking | None, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to `count` (track, offset difference) cells worth a check on sketches, most likely first:
    the best window of each candidate's pair votes, the cells with the most triplet votes, then
    the cells with the most pair votes (a pair is ~10 bits likelier by chance than a triplet)."""
    keys = []
    if pair_ranking is not None:
        keys.append(_cell_keys(pair_ranking.track_ids, np.rint(pair_ranking.best_diff)))
    for hits in (votes.triplets, votes.pairs):
        if len(hits):
            cells = np.sort(_cell_keys(hits.track_ids, np.rint(hits.db_offsets - hits.query_offsets)))
            starts = arrays.run_starts(cells)
            counts = np.diff(np.r_[starts, cells.size])
            keys.append(cells[starts][np.argsort(-counts, kind="stable")])
    if not keys:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ordered = np.concatenate(keys)
    # Each cell once, where it first appears (a candidate's best window is also a voted cell).
    by_value = np.argsort(ordered, kind="stable")
    first_seen = by_value[arrays.run_starts(ordered[by_value])]
    chosen = ordered[np.sort(first_seen)[:count]]
    return chosen >> 32, (chosen & 0xFFFFFFFF) - (1 << 31)


def _cell_keys(track_ids: np.ndarray, diffs: np.ndarray) -> np.ndarray:
    """One int64 per (track, offset difference) cell."""
    return (np.asarray(track_ids, np.int64) << 32) | (np.asarray(diffs, np.int64) + (1 << 31))
