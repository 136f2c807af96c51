"""Sorted distinct values of integer arrays, for the engine's hot paths.

The pinned numpy finds np.unique's values through a hash table and then sorts them, an order of
magnitude slower on the engine's arrays (tens of thousands of votes) than one sort and a
comparison of neighbours. Lookups, votes and ingest call these instead. numpy only; no Django.
"""

from __future__ import annotations

import functools
import time

import numpy as np

__all__ = [
    "distinct",
    "isin_sorted",
    "merges_small_groups",
    "ranges",
    "rank_in_runs",
    "run_starts",
    "small_groups",
    "sort",
]


def distinct(values: np.ndarray) -> np.ndarray:
    """Return the sorted distinct values of a 1-d array (np.unique without its hash pass)."""
    ordered = sort(values)
    if ordered.size < 2:
        return ordered
    return ordered[_starts_mask(ordered)]


# sort takes the merge sort (timsort) when fewer than one value in `_RUN_SORT_DESCENTS` is smaller
# than the one before it: the pinned numpy's default sort is 2-65x slower than a merge on values
# already in a few sorted runs (the memo's union of the values asked so far and those just asked,
# a lookup's values the memo sorted), on every machine measured. On values sorted but for small
# groups (hashes in time order, each anchor's in no order: fewer than one in `_SAMPLE_DESCENTS`
# smaller than the value `_RUN_SORT_STRIDE` places before it) the merge won ~6x on a machine whose
# numpy sorts without SIMD and lost ~3x on one with AVX-512, where numpy's default sort is
# x86-simd-sort; `merges_small_groups` times both once per process. Values in no order always take
# the default (docs/decisions.md, "Sorts of values in runs merged").
_RUN_SORT_DESCENTS = 64
_RUN_SORT_STRIDE = 32
_SAMPLE_DESCENTS = 16


def sort(values: np.ndarray) -> np.ndarray:
    """np.sort of a 1-d array, by merging its runs when it is made of a few sorted runs, or is
    sorted but for small groups where this machine merges those faster."""
    values = np.asarray(values)
    if values.size > _RUN_SORT_STRIDE and merges_small_groups():
        sample = values[::_RUN_SORT_STRIDE]  # a 32nd of the values: checked before all of them
        if int(np.count_nonzero(sample[1:] < sample[:-1])) * _SAMPLE_DESCENTS < sample.size:
            return np.sort(values, kind="stable")
    ordered = int(np.count_nonzero(values[1:] < values[:-1])) * _RUN_SORT_DESCENTS < values.size
    return np.sort(values, kind="stable" if ordered else None)


@functools.cache
def merges_small_groups() -> bool:
    """Whether numpy's merge sort beats its default sort, on this machine, on 8,000 values sorted
    but for groups of 15 in no order (a clip's hashes): the fastest of five timings of each,
    interleaved. Either way the values come out the same; only the time differs."""
    values = small_groups(np.random.default_rng(0))
    merge = default = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        np.sort(values, kind="stable")
        merged = time.perf_counter()
        np.sort(values)
        merge, default = min(merge, merged - started), min(default, time.perf_counter() - merged)
    return merge < default


def small_groups(rng: np.random.Generator) -> np.ndarray:
    """8,000 values sorted but for groups of 15 in no order, as a clip's hashes by time: what
    `merges_small_groups` times (bench/studies/sort_runs.py too)."""
    return (np.repeat(np.arange(534, dtype=np.int64), 15)[:8_000] << 32) | rng.integers(0, 2**32, 8_000)


def _starts_mask(ordered: np.ndarray) -> np.ndarray:
    """Where a run of equal values begins in a sorted 1-d array of 1 or more values."""
    mask = np.empty(ordered.size, bool)
    mask[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=mask[1:])
    return mask


# isin_sorted marks `ordered` in a table of its span when that costs at most this many bytes per
# value asked and this many in all: pairs span 2^21 values, where a table is several times faster
# than binary searches that miss the cache; a table of triplets' 2^32 values would cost more than
# it saves.
_TABLE_BYTES_PER_VALUE = 256
_TABLE_MAX_BYTES = 1 << 24


def isin_sorted(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Which of `values` are in `ordered` (sorted integers): np.isin, through a table of
    `ordered`'s span when it is small enough, else by one binary search per value."""
    values = np.asarray(values)
    if ordered.size == 0:
        return np.zeros(values.shape, bool)
    low = int(ordered[0])
    span = int(ordered[-1]) - low + 1
    if span <= min(_TABLE_MAX_BYTES, _TABLE_BYTES_PER_VALUE * values.size):
        table = np.zeros(span + 2, bool)  # a slot either side for every value out of the span
        table[ordered.astype(np.int64, copy=False) - (low - 1)] = True
        slot = values.astype(np.int64)  # a copy, then worked in place
        slot -= low - 1
        return table[np.clip(slot, 0, span + 1, out=slot)]
    return ordered[np.minimum(np.searchsorted(ordered, values), ordered.size - 1)] == values


def ranges(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Every index of the ranges [first[i], last[i]), in order: the rows a batch of binary
    searches found."""
    counts = np.asarray(last) - np.asarray(first)
    ends = np.cumsum(counts)
    return np.repeat(np.asarray(first) - ends + counts, counts) + np.arange(int(ends[-1]) if ends.size else 0)


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Return where each run of equal values begins in a sorted 1-d array."""
    if ordered.size == 0:
        return np.empty(0, np.intp)
    return np.flatnonzero(_starts_mask(ordered))


def rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """Return each element's position within its run of equal consecutive keys (0 for a run's first)."""
    starts = run_starts(keys)
    return np.arange(keys.size) - np.repeat(starts, np.diff(np.concatenate((starts, [keys.size]))))
