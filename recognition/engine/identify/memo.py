"""The per-clip memo of lookups: each value asked of the index in every track once per clip."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recognition.engine import arrays
from recognition.engine.index import LookupRows

__all__ = ["Lookup", "LookupMemo"]

Lookup = Callable[..., LookupRows]  # HashIndex.lookup: (hashes, tracks=None) -> rows


class LookupMemo:
    """A per-clip memo of lookups: each value is asked of the index in every track once per
    clip, and repeats are answered from the rows already read.

    A clip that fails as heard is retried at four speeds, and some of the retries' triplets are
    values it looked up as heard: low, short steps, which a 1-2 % speed change leaves alone and
    which are the commonest, so they hold more than their share of the rows (docs/decisions.md,
    LookupMemo). Each value's rows do not depend on the other values asked with it, so the
    answers are the same. Lookups in named tracks pass through.
    """

    def __init__(self, lookup: Lookup):
        self._lookup = lookup
        self._asked = np.empty(0, np.int64)  # sorted
        self._rows: LookupRows | None = None  # of every value asked

    def __call__(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        if tracks is not None:
            return self._lookup(hashes, tracks)
        wanted = arrays.distinct(np.asarray(hashes, np.int64))
        new = wanted[~arrays.isin_sorted(wanted, self._asked)]
        if new.size:
            found = self._lookup(new)
            self._asked = arrays.distinct(np.concatenate([self._asked, new]))
            if self._rows is None:  # the first lookup (all a clip decided as heard makes)
                self._rows = found
                return found
            self._rows = LookupRows.concatenate([self._rows, found])
        if self._rows is None:  # nothing asked yet
            return LookupRows.empty()
        keep = arrays.isin_sorted(self._rows.hashes, wanted)
        return LookupRows(self._rows.hashes[keep], self._rows.track_ids[keep], self._rows.offsets[keep])
