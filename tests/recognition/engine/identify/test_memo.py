"""The per-clip memo of lookups (recognition/engine/identify/memo.py)."""

import numpy as np

from recognition.engine import LookupRows, MemoryIndex
from recognition.engine import fingerprint as fp
from recognition.engine.identify import LookupMemo
from tests import media
from tests.recognition.engine.indexes import CountingIndex, counted_engine_without_smoothing

RATE = media.ENGINE_RATE


def test_a_clip_asks_the_store_for_each_value_in_every_track_once(songs):
    """The speed retries look up in every track only the triplets the clip did not already ask
    as heard; those it did are answered from the rows read then."""
    counting, engine = counted_engine_without_smoothing(songs)
    clip = media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02)
    match = engine.identify(clip)
    assert match is not None and match.track_id == 4
    (heard, _), _, (retried, _), _ = counting.calls
    peaks = fp.constellation(clip, engine.params)
    moved = fp.Constellation(peaks.peaks[: engine.retry_shifts], peaks.n_frames)
    wanted = np.unique(
        np.concatenate(
            [
                fp.hash_constellation(moved, engine.retry_params, speed=f).split()[1].hashes
                for f in engine.speed_variants
            ]
        )
    )
    shared = np.intersect1d(wanted, heard)
    assert shared.size > 0 and np.array_equal(np.unique(retried), np.setdiff1d(wanted, heard))


def _columns(rows: LookupRows) -> np.ndarray:
    return np.column_stack([rows.hashes, rows.track_ids, rows.offsets])


def test_a_lookup_memo_answers_as_the_store_does():
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 400, 3000)
    index = MemoryIndex()
    for track in range(6):
        part = stored[track::6].astype(np.int32) | np.int32(1 << 24)  # triplet values
        index.add(track, fp.Fingerprints(part, np.arange(part.size, dtype=np.float32), part.size))
    counting = CountingIndex(index)
    asked = LookupMemo(counting.lookup)
    first = rng.integers(0, 400, 150) | (1 << 24)
    second = np.r_[first[:60], rng.integers(400, 500, 20) | (1 << 24), rng.integers(0, 400, 90) | (1 << 24)]
    for values in (first, second, second[:10]):
        rows = _columns(asked(values))
        expected = _columns(index.lookup(values))
        assert rows.shape[0] > 0 and np.array_equal(np.unique(rows, axis=0), np.unique(expected, axis=0))
    asked_of_store = [np.unique(hashes) for hashes, _ in counting.calls]
    assert len(asked_of_store) == 2  # the third was answered from the rows already read
    assert np.intersect1d(*asked_of_store).size == 0
    assert np.array_equal(np.union1d(*asked_of_store), np.union1d(first, second))
    assert len(asked(np.array([5 | (1 << 24)]), np.array([1]))) == len(index.lookup([5 | (1 << 24)], [1]))
