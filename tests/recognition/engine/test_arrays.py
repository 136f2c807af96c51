"""The sorted-distinct helpers of the engine's hot paths (recognition/engine/arrays.py)."""

import numpy as np
import pytest

from recognition.engine import arrays


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint64])
def test_distinct_gives_what_numpy_unique_gives(dtype):
    rng = np.random.default_rng(7)
    for size in (0, 1, 2, 50, 5000):
        values = rng.integers(0, 300, size).astype(dtype) * dtype(2**20 if dtype != np.int32 else 1)
        found = arrays.distinct(values)
        assert found.dtype == values.dtype and np.array_equal(found, np.unique(values))
    ordered = np.array([3, 3, 5, 9, 9, 9])
    assert arrays.run_starts(ordered).tolist() == [0, 2, 3] and arrays.run_starts(ordered[:0]).size == 0


@pytest.mark.parametrize("merges_groups", [True, False], ids=["groups-merged", "groups-default"])
def test_sort_gives_what_numpy_sort_gives_in_order_or_in_runs(monkeypatch, merges_groups):
    """Every way it sorts: values in no order, and values in a few sorted runs (two sorted
    arrays end to end, as the lookup memo's union makes) or sorted but for small groups, sorted
    and empty ones too; groups merged or not, as a machine's timing decides."""
    monkeypatch.setattr(arrays, "merges_small_groups", lambda: merges_groups)
    kinds = []
    numpy_sort = np.sort
    monkeypatch.setattr(arrays.np, "sort", lambda v, kind=None: kinds.append(kind) or numpy_sort(v, kind=kind))
    rng = np.random.default_rng(5)
    shuffled = rng.integers(-(2**40), 2**40, 3000)
    runs = np.concatenate([np.sort(rng.integers(0, 500, 2000)), np.sort(rng.integers(0, 500, 700))])
    # Sorted by time, each group of 15 (an anchor's hashes) in no order.
    grouped = (np.repeat(np.arange(200), 15) << 32) | rng.integers(0, 1 << 32, 3000)
    chosen = {}
    for name, values in {
        "shuffled": shuffled,
        "runs": runs,
        "grouped": grouped,
        "sorted": numpy_sort(shuffled),
        "reversed runs": runs[::-1],
        "one": shuffled[:1],
        "empty": shuffled[:0],
    }.items():
        kinds.clear()
        ordered = arrays.sort(values)
        chosen[name] = kinds[0]
        assert ordered.dtype == values.dtype and np.array_equal(ordered, numpy_sort(values))
        assert ordered is not values
    assert chosen["runs"] == chosen["sorted"] == "stable"
    assert chosen["shuffled"] is None and chosen["reversed runs"] is None
    assert chosen["grouped"] == ("stable" if merges_groups else None)


def test_whether_small_groups_merge_is_timed_once_per_process():
    assert isinstance(arrays.merges_small_groups(), bool)
    assert arrays.merges_small_groups.cache_info().currsize == 1


def test_ranges_lists_every_index_of_each_range_in_order():
    assert arrays.ranges(np.array([4, 0, 9, 2]), np.array([6, 0, 10, 5])).tolist() == [4, 5, 9, 2, 3, 4]
    assert arrays.ranges(np.array([], np.int64), np.array([], np.int64)).size == 0


def test_isin_sorted_gives_what_numpy_isin_gives():
    """Both ways it answers: a table over a narrow span (pairs), binary search over a wide one
    (triplets fill int32), values either side of the span included."""
    rng = np.random.default_rng(3)
    narrow = rng.integers(-50, 50, 400)
    wide = np.concatenate([rng.integers(-(2**31), 2**31, 400), [-(2**31), 2**31 - 1, -51, 60]]).astype(np.int32)
    for values, low, high in ((narrow, -60, 60), (wide, -(2**31), 2**31)):
        for size in (0, 1, 40):
            ordered = np.unique(rng.integers(low, high, size).astype(values.dtype))
            ordered = np.unique(np.concatenate([ordered, values[: size // 4]]))  # some hits for sure
            assert np.array_equal(arrays.isin_sorted(values, ordered), np.isin(values, ordered))


def test_rank_in_runs_counts_from_each_runs_start():
    assert arrays.rank_in_runs(np.array([4, 4, 4, 1, 7, 7, 4])).tolist() == [0, 1, 2, 0, 0, 1, 0]
    assert arrays.rank_in_runs(np.array([], np.int64)).size == 0
