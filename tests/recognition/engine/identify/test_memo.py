"""The per-clip memo of lookups (recognition/engine/identify/memo.py)."""

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from recognition.engine import Identifier, LookupRows, MemoryIndex
from recognition.engine import fingerprint as fp
from recognition.engine.identify import LookupMemo, memo
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


class _AheadIndex(CountingIndex):
    """A CountingIndex that can look up elsewhere: each group on a thread of its own pool, in
    order, as the store's helper does; `started` holds the groups it was sent."""

    def __init__(self, index: MemoryIndex, pool: ThreadPoolExecutor):
        super().__init__(index)
        self.pool = pool
        self.started: list[np.ndarray] = []

    def lookup_later(self, groups: list[np.ndarray]) -> list[Future[LookupRows]]:
        self.started.extend(groups)
        return [self.pool.submit(self.lookup, group) for group in groups]


def _stored_index(seed: int) -> tuple[MemoryIndex, np.random.Generator]:
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 400, 3000)
    index = MemoryIndex()
    for track in range(6):
        part = stored[track::6].astype(np.int32) | np.int32(1 << 24)  # triplet values
        index.add(track, fp.Fingerprints(part, np.arange(part.size, dtype=np.float32), part.size))
    return index, rng


def test_values_asked_ahead_are_read_once_and_answer_as_the_store_does():
    index, rng = _stored_index(7)
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = _AheadIndex(index, pool)
        asked = LookupMemo(ahead.lookup, ahead.lookup_later)
        first = rng.integers(0, 400, 150) | (1 << 24)
        later, other = rng.integers(0, 400, 120) | (1 << 24), rng.integers(400, 600, 40) | (1 << 24)
        assert len(asked(first)) > 0
        assert asked.ask_ahead([np.r_[first[:30], later], other])
        assert [group.size for group in ahead.started] == [np.setdiff1d(later, first).size, np.unique(other).size]
        for values in (later[:50], np.r_[later, other], first[:10]):
            rows = _columns(asked(values))
            assert np.array_equal(np.unique(rows, axis=0), np.unique(_columns(index.lookup(values)), axis=0))
    every = np.concatenate([hashes for hashes, _ in ahead.calls])
    assert every.size == np.unique(every).size  # no value asked twice
    assert np.array_equal(np.unique(every), np.union1d(np.union1d(first, later), other))


def test_a_lookup_ahead_not_started_or_failed_is_asked_by_the_clip():
    index, rng = _stored_index(8)
    counting = CountingIndex(index)
    never_run: Future[LookupRows] = Future()
    failed: Future[LookupRows] = Future()
    failed.set_running_or_notify_cancel()
    failed.set_exception(ConnectionError("the other connection went away"))
    asked = LookupMemo(counting.lookup, lambda groups: [never_run, failed][: len(groups)])
    waiting, broken = rng.integers(0, 200, 80) | (1 << 24), rng.integers(200, 400, 80) | (1 << 24)
    assert asked.ask_ahead([waiting, broken])
    for values in (waiting, broken):
        assert np.array_equal(
            np.unique(_columns(asked(values)), axis=0), np.unique(_columns(index.lookup(values)), axis=0)
        )
    assert never_run.cancelled()  # taken back, not waited for
    assert [np.unique(h).size for h, _ in counting.calls] == [np.unique(waiting).size, np.unique(broken).size]
    assert not LookupMemo(counting.lookup, lambda groups: None).ask_ahead([waiting])  # the index cannot now


def test_a_clip_answers_the_same_with_its_later_lookups_asked_ahead(songs, monkeypatch):
    """Every look reads the same rows whether asked ahead or not: a clip 6 % fast (found by the
    wide retries after the denser look and the near speeds failed) and one never indexed get the
    same answers, and the lookups asked ahead are the later looks' lookups in every track. In a
    catalog this small a clip's first lookup brings too few rows to ask anything ahead, unless
    the threshold says otherwise."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        if seed != 5:
            index.add(seed, fp.fingerprint(samples))
    fast = media.played_faster(songs[3][8 * RATE : 16 * RATE], 1.06)
    unknown = songs[5][8 * RATE : 13 * RATE]
    answers = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = _AheadIndex(index, pool)
        plain, asking = CountingIndex(index), Identifier(ahead)
        assert asking.identify(fast) is not None and ahead.started == []  # too few rows as heard
        monkeypatch.setattr(memo, "ASK_AHEAD_MIN_ROWS", 0)
        for clip in (fast, unknown):
            before = len(ahead.started)
            found, expected = asking.identify(clip), Identifier(plain).identify(clip)
            assert found == expected
            assert len(ahead.started) == before + 3  # the denser look's, the near speeds', the wide screen's
            answers.append(found)
    assert answers[0] is not None and answers[0].track_id == 3 and answers[0].speed > 1.03
    assert answers[1] is None
