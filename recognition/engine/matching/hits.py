"""Votes: every stored row paired with the query occurrences of its hash."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recognition.engine import arrays

__all__ = ["Hits", "QueryWindows", "join_hits", "join_hits_of"]


@dataclass(frozen=True)
class Hits:
    """Votes: for each (query hash occurrence, stored row) pair with equal hashes."""

    hashes: np.ndarray
    track_ids: np.ndarray
    db_offsets: np.ndarray
    query_offsets: np.ndarray  # frames; fractional for queries fingerprinted at sub-frame shifts

    @classmethod
    def empty(cls) -> Hits:
        e = np.empty(0, np.int64)
        return cls(e.astype(np.int32), e, e.astype(np.int32), e.astype(np.int32))

    def __len__(self) -> int:
        return int(self.hashes.size)

    def select(self, mask: np.ndarray) -> Hits:
        return Hits(self.hashes[mask], self.track_ids[mask], self.db_offsets[mask], self.query_offsets[mask])

    @staticmethod
    def concatenate(parts: Iterable[Hits]) -> Hits:
        parts = list(parts)
        if not parts:
            return Hits.empty()
        return Hits(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("hashes", "track_ids", "db_offsets", "query_offsets")
            )
        )


def join_hits(
    query_hashes: np.ndarray,
    query_offsets: np.ndarray,
    db_hashes: np.ndarray,
    db_track_ids: np.ndarray,
    db_offsets: np.ndarray,
) -> Hits:
    """Pair every stored row with every query occurrence of its hash (a sort-merge join)."""
    if db_hashes.size == 0 or query_hashes.size == 0:
        return Hits.empty()
    row, q_index = _join(query_hashes, db_hashes)
    return Hits(
        hashes=db_hashes[row].astype(np.int32),
        track_ids=db_track_ids[row].astype(np.int64),
        db_offsets=db_offsets[row].astype(np.int32),
        query_offsets=query_offsets[q_index],
    )


def join_hits_of(
    queries: list[tuple[np.ndarray, np.ndarray]],
    db_hashes: np.ndarray,
    db_track_ids: np.ndarray,
    db_offsets: np.ndarray,
) -> list[Hits]:
    """`join_hits` of each (hashes, offsets) query against the rows of all of them, in one join.

    Joining each query against every row apart costs a binary search of every row per query:
    with the dozens of retried speeds of a clip, or a long input's windows, that was most of the
    time a clip took (docs/decisions.md, join_hits_of). Each query's hits are those its own
    join gives, in the order of its hashes rather than of the rows.
    """
    if len(queries) == 1:
        return [join_hits(*queries[0], db_hashes, db_track_ids, db_offsets)]
    sizes = np.array([q[0].size for q in queries], dtype=np.int64)
    if db_hashes.size == 0 or int(sizes.sum()) == 0:
        return [Hits.empty() for _ in queries]
    # Rows found for each query position in turn, so each query's hits come out together.
    by_hash = np.argsort(db_hashes, kind="stable")
    stored_sorted = db_hashes[by_hash]
    heard_hashes = np.concatenate([q[0] for q in queries])
    lo = np.searchsorted(stored_sorted, heard_hashes, side="left")
    counts = np.searchsorted(stored_sorted, heard_hashes, side="right") - lo
    position = np.repeat(np.arange(heard_hashes.size), counts)
    row = by_hash[arrays.ranges(lo, lo + counts)]
    owner = np.repeat(np.arange(len(queries)), sizes)
    bounds = np.r_[0, np.cumsum(np.bincount(owner, weights=counts, minlength=len(queries)).astype(np.int64))]
    offsets = np.concatenate([q[1] for q in queries])
    hashes = db_hashes[row].astype(np.int32)
    track_ids = db_track_ids[row].astype(np.int64)
    stored = db_offsets[row].astype(np.int32)
    heard = offsets[position]
    return [Hits(hashes[lo:hi], track_ids[lo:hi], stored[lo:hi], heard[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


def _join(query_hashes: np.ndarray, db_hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(stored row, query position) of every pair of equal hashes, by row, then query position."""
    order = np.argsort(query_hashes, kind="stable")
    q_sorted = query_hashes[order]
    lo = np.searchsorted(q_sorted, db_hashes, side="left")
    hi = np.searchsorted(q_sorted, db_hashes, side="right")
    return np.repeat(np.arange(db_hashes.size), hi - lo), order[arrays.ranges(lo, hi)]


class QueryWindows:
    """Hits cut into stretches of the query, each with offsets relative to its start."""

    def __init__(self, hits: Hits):
        self._hits = hits
        self._order = np.argsort(hits.query_offsets, kind="stable")
        self.q_sorted = hits.query_offsets[self._order]

    def cut(self, start: int, frames: int) -> Hits:
        lo, hi = np.searchsorted(self.q_sorted, [start, start + frames])
        window = self._hits.select(self._order[lo:hi])
        return Hits(window.hashes, window.track_ids, window.db_offsets, window.query_offsets - start)
