"""The PostgreSQL store as the engine's HashIndex."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from recognition.engine import LookupRows
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET
from recognition.engine.identify.memo import Later
from recognition.store.ahead import lookup_later
from recognition.store.hashes import lookup
from recognition.store.sketches import sketch_slices

__all__ = ["PostgresIndex"]


@dataclass
class PostgresIndex:
    """The hash tables of the default database, read as recognition.engine.HashIndex: hashes
    and sketch slices through this package's SQL, track lengths and the catalog's size through
    recognition.selectors, which cache them per process."""

    # Rows of one triplet value a lookup in every track reads (growth studies lower it).
    row_cap: int = MAX_ROWS_PER_TRIPLET
    # Lookups in every track may be asked ahead on the helper's connection (store/ahead.py).
    ask_ahead: bool = True

    def lookup(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        return lookup(hashes, tracks, row_cap=self.row_cap)

    @property
    def lookup_later(self) -> Later | None:
        """HashIndex.lookup_later when `ask_ahead`, else None (the engine then asks nothing ahead)."""
        return functools.partial(lookup_later, row_cap=self.row_cap) if self.ask_ahead else None

    # The selectors read the catalog's models, which exist only once Django is set up; the rest
    # of the store is imported before that by tools that set it up later (bench/faults.py).
    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        from recognition import selectors

        return selectors.track_frames(track_ids)

    def track_count(self) -> int:
        from recognition import selectors

        return selectors.fingerprinted_track_count()

    def sketch_slices(self, track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
        return sketch_slices(track_ids, first_frames, n_frames)
