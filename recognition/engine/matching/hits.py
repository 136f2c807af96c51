"""Votes: every stored row paired with the query occurrences of its hash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Hits", "QueryWindows", "join_hits"]


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
    order = np.argsort(query_hashes, kind="stable")
    q_sorted = query_hashes[order]
    lo = np.searchsorted(q_sorted, db_hashes, side="left")
    hi = np.searchsorted(q_sorted, db_hashes, side="right")
    counts = hi - lo
    total = int(counts.sum())
    row = np.repeat(np.arange(db_hashes.size), counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    q_index = order[lo[row] + within]
    return Hits(
        hashes=db_hashes[row].astype(np.int32),
        track_ids=db_track_ids[row].astype(np.int64),
        db_offsets=db_offsets[row].astype(np.int32),
        query_offsets=query_offsets[q_index],
    )


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
