"""Votes and the calibrated decision on them (recognition/engine/matching/)."""

import numpy as np
import pytest
from scipy import stats

from recognition.engine import matching


def test_join_hits_pairs_each_row_with_every_occurrence_of_its_hash():
    rng = np.random.default_rng(5)
    query_hashes = rng.integers(-20, 20, 300).astype(np.int32)  # repeats, negatives
    query_offsets = rng.random(300).astype(np.float32) * 100
    db_hashes = rng.integers(-30, 30, 500).astype(np.int32)  # some the query lacks
    db_tracks = rng.integers(1, 9, 500)
    db_offsets = rng.integers(0, 1000, 500).astype(np.int32)
    hits = matching.join_hits(query_hashes, query_offsets, db_hashes, db_tracks, db_offsets)
    by_hand = sorted(
        (int(h), int(t), int(o), float(q))
        for h, t, o in zip(db_hashes, db_tracks, db_offsets, strict=True)
        for qh, q in zip(query_hashes, query_offsets, strict=True)
        if qh == h
    )
    joined = zip(hits.hashes, hits.track_ids, hits.db_offsets, hits.query_offsets, strict=True)
    assert len(by_hand) > 1000 and sorted((int(h), int(t), int(o), float(q)) for h, t, o, q in joined) == by_hand
    assert len(matching.join_hits(query_hashes[:0], query_offsets[:0], db_hashes, db_tracks, db_offsets)) == 0


def test_join_hits_of_gives_each_query_its_own_join():
    rng = np.random.default_rng(6)
    db_hashes = rng.integers(-30, 30, 800).astype(np.int32)
    db_tracks = rng.integers(1, 9, 800)
    db_offsets = rng.integers(0, 1000, 800).astype(np.int32)
    queries = [
        (rng.integers(-20, 20, n).astype(np.int32), (rng.random(n) * 100).astype(np.float32)) for n in (300, 0, 1, 150)
    ]
    together = matching.join_hits_of(queries, db_hashes, db_tracks, db_offsets)
    assert len(together) == 4 and len(together[0]) > 1000 and len(together[1]) == 0
    for (hashes, offsets), hits in zip(queries, together, strict=True):
        alone = matching.join_hits(hashes, offsets, db_hashes, db_tracks, db_offsets)
        assert _rows(hits) == _rows(alone)
        assert hits.track_ids.dtype == alone.track_ids.dtype and hits.db_offsets.dtype == alone.db_offsets.dtype
    assert [len(h) for h in matching.join_hits_of(queries, db_hashes[:0], db_tracks[:0], db_offsets[:0])] == [0] * 4


def _rows(hits: matching.Hits) -> list[tuple]:
    columns = (hits.hashes, hits.track_ids, hits.db_offsets, hits.query_offsets)
    return sorted(zip(*(c.tolist() for c in columns), strict=True))


def test_confidence_is_a_calibrated_bound():
    # No votes at all -> no match; a weak chance alignment stays far below the threshold.
    hits = matching.Hits(
        hashes=np.array([1, 2, 3], np.int32),
        track_ids=np.array([1, 1, 2], np.int64),
        db_offsets=np.array([10, 500, 40], np.int32),
        query_offsets=np.array([0.0, 3.0, 9.0], np.float32),
    )
    assert matching.best_match(matching.Hits.empty(), 100, {1: 1000}) is None
    assert matching.best_match(hits, 100, {1: 5000, 2: 5000}) is None
    # Thirty distinct anchors on one difference against a sparse background is a match.
    aligned = matching.Hits(
        hashes=np.arange(30, dtype=np.int32),
        track_ids=np.full(30, 9, np.int64),
        db_offsets=(np.arange(30) * 5 + 1000).astype(np.int32),
        query_offsets=(np.arange(30) * 5.0).astype(np.float32),
    )
    match = matching.best_match(aligned, 200, {9: 5000})
    assert match is not None and match.track_id == 9 and match.offset_frames == 1000
    assert match.confidence > 1 - 1e-9


def _ranked_by_hand(hits: matching.Hits, tol: int, per_frame: int) -> dict[int, tuple[float, int]]:
    """Each track's (best difference in frames, score) by the definition, one track and one cell
    (1 / per_frame of a frame) at a time."""
    diffs = np.rint((hits.db_offsets - hits.query_offsets) * per_frame).astype(int)
    ranked = {}
    for track in sorted(set(hits.track_ids.tolist())):
        mine = hits.track_ids == track
        events = set(zip(diffs[mine].tolist(), hits.db_offsets[mine].tolist(), strict=True))
        rows_at: dict[int, set[int]] = {}
        for diff, row in events:
            rows_at.setdefault(diff, set()).add(row)

        window = {d: sum(len(rows_at.get(d + k, ())) for k in range(-tol, tol + 1)) for d in rows_at}
        best = min(rows_at, key=lambda d: (-window[d], d))
        ranked[track] = best / per_frame, len({row for diff, row in events if abs(diff - best) <= tol})
    return ranked


@pytest.mark.parametrize(
    ("tol", "per_frame", "stored_frames", "id_step"),
    [
        (0, 1, 60, 1000),
        (1, 1, 60, 1000),
        (2, 1, 60, 1000),
        (1, 2, 60, 1000),
        (2, 2, 60, 1000),
        (1, 2, 60, 2**50),
        (1, 2, 2**30, 1000),
    ],
)
def test_each_tracks_best_window_and_score_are_those_of_the_definition(tol, per_frame, stored_frames, id_step):
    # Track ids 2**50 apart, a vote's (track id, difference, row) no longer fits one 63-bit key,
    # but (track's rank, difference, row) does; 2**30 frames apart, neither does.
    rng = np.random.default_rng(tol)
    params = matching.MatchParams(cells_per_frame=per_frame, tolerance_cells=tol)
    for _ in range(40):
        n = int(rng.integers(1, 400))
        hits = matching.Hits(
            hashes=np.zeros(n, np.int32),
            track_ids=rng.integers(1, 8, n).astype(np.int64) * id_step,
            db_offsets=rng.choice(rng.integers(0, stored_frames, 60), n).astype(np.int32),
            query_offsets=rng.integers(0, 40, n) + rng.choice([0.0, 0.5], n),
        )
        ranking = matching.rank_tracks(hits, 40, lambda ids: np.full(ids.size, 500), params)
        best = zip(ranking.best_diff.tolist(), ranking.score.tolist(), strict=True)
        found = dict(zip(ranking.track_ids.tolist(), best, strict=True))
        assert found == _ranked_by_hand(hits, tol, per_frame)


@pytest.mark.parametrize(
    ("tol", "per_frame", "background"), [(0, 1, 0), (0, 2, 125), (1, 2, 0), (1, 2, 125), (2, 1, 125), (1, 1, 3)]
)
def test_each_tracks_bound_is_that_of_the_definition(tol, per_frame, background):
    # Many tracks with one row each (as a large catalog gives a never-indexed clip), some with
    # a few rows aligned: the tracks whose best window holds one row are not computed, and must
    # come out as the definition gives them all the same.
    rng = np.random.default_rng(10 * tol + per_frame + background)
    params = matching.MatchParams(cells_per_frame=per_frame, tolerance_cells=tol, background_frames=background)
    query_frames = 40
    for _ in range(15):
        single = int(rng.integers(50, 300))
        strong = [(int(rng.integers(2, 12)), int(rng.integers(0, 30))) for _ in range(int(rng.integers(0, 6)))]
        tracks = [*range(1, single + 1), *[1000 + i for i in range(len(strong))]]
        track_ids = [*range(1, single + 1)]
        stored = [*rng.integers(0, 3000, single)]
        heard = [*rng.integers(0, query_frames, single).astype(float)]
        for i, (aligned, noise) in enumerate(strong):
            at = int(rng.integers(0, 2000))
            track_ids += [1000 + i] * (aligned + noise)
            stored += [*(at + np.arange(aligned) * 3), *rng.integers(0, 3000, noise)]
            heard += [*(np.arange(aligned) * 3.0), *rng.integers(0, query_frames, noise).astype(float)]
        hits = matching.Hits(
            hashes=np.zeros(len(stored), np.int32),
            track_ids=np.array(track_ids, np.int64),
            db_offsets=np.array(stored, np.int32),
            query_offsets=np.array(heard) + rng.choice([0.0, 0.5], len(heard)),
        )
        lengths = {t: int(rng.integers(1, 6000)) for t in tracks}
        ranking = matching.rank_tracks(hits, query_frames, lengths, params)
        found = dict(zip(ranking.track_ids.tolist(), ranking.log10_p.tolist(), strict=True))
        by_hand = _bounds_by_hand(hits, ranking, lengths, query_frames, params)
        assert found.keys() == by_hand.keys()
        assert all(found[t] == pytest.approx(by_hand[t], abs=1e-6) for t in found)
        if tol >= 1:  # the shortcut's claim: one row in the best window, a bound of 1
            assert all(found[t] == 0.0 for t, score in zip(found, ranking.score.tolist(), strict=True) if score == 1)


def _bounds_by_hand(
    hits: matching.Hits, ranking: matching.Ranking, lengths: dict[int, int], query_frames: int, params
) -> dict[int, float]:
    """Each track's log10 bound by the definition, one track at a time, on its best window."""
    per_frame, tol = params.cells_per_frame, params.tolerance_cells
    width = 2 * tol + 1
    diffs = np.rint((hits.db_offsets - hits.query_offsets) * per_frame).astype(int)
    bounds = {}
    for track, best, score in zip(
        ranking.track_ids.tolist(), ranking.best_diff.tolist(), ranking.score.tolist(), strict=True
    ):
        mine = hits.track_ids == track
        events = np.array(sorted(set(zip(diffs[mine].tolist(), hits.db_offsets[mine].tolist(), strict=True))))
        positions = (max(lengths[track], 1) + query_frames) * per_frame
        mu = width * len(events) / positions
        if params.background_frames:
            reach = max(params.background_frames, query_frames) * per_frame
            distance = np.abs(events[:, 0] - round(best * per_frame))
            around, inside = int((distance <= reach).sum()), int((distance <= tol).sum())
            mu = max(mu, width * (around - inside) / (2 * reach + 1 - width))
        mu = min(mu, len(events))
        bounds[track] = min(float(np.log10(stats.poisson.sf(score - 1, mu)) + np.log10(positions)), 0.0)
    return bounds


@pytest.mark.parametrize("shifts", [1, 2])
def test_the_bound_expects_chance_votes_on_whole_and_half_frames_alike(shifts):
    # Two shifts put a clip's votes on whole and half frames alike: a window of three half
    # frames expects 3/2 of a frame's share of chance votes, and the bound is exact. One shift
    # puts them on whole frames only, where such a window (centred on a voted cell) covers one
    # frame: the same bound then overstates the chance, never understates it.
    rng = np.random.default_rng(shifts)
    length, query_frames = 3000, 150
    params = matching.MatchParams(background_frames=0)
    for _ in range(10):
        chance, aligned = 300, 12
        query = np.r_[rng.integers(0, query_frames, chance), np.arange(aligned)].astype(np.float64)
        stored = np.r_[5000 + 10 * np.arange(chance), 1000 + np.arange(aligned)]  # distinct rows
        if shifts == 2:  # half the votes on half frames, the aligned ones at 1000 and 1000.5
            query += 0.5 * (np.arange(query.size) % 2)
        hits = matching.Hits(
            hashes=np.zeros(query.size, np.int32),
            track_ids=np.full(query.size, 7, np.int64),
            db_offsets=stored.astype(np.int32),
            query_offsets=query,
        )
        ranking = matching.rank_tracks(hits, query_frames, {7: length}, params)
        assert ranking.score[0] == aligned
        assert 2 * float(ranking.best_diff[0]) in (1999, 2000)  # on a voted cell: 999.5 or 1000 frames
        frames = length + query_frames
        bound = np.log10(stats.poisson.sf(aligned - 1, 1.5 * query.size / frames)) + np.log10(2 * frames)
        assert ranking.log10_p[0] == pytest.approx(bound, abs=1e-6)
        if shifts == 1:  # the window covers one whole frame, which expects 1 share, not 3/2
            exact = np.log10(stats.poisson.sf(aligned - 1, query.size / frames)) + np.log10(2 * frames)
            assert ranking.log10_p[0] > exact + 1
