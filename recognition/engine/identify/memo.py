"""The per-clip memo of lookups: each value asked of the index in every track once per clip."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from recognition.engine import arrays
from recognition.engine.index import LookupRows

__all__ = ["ASK_AHEAD_MIN_ROWS", "Later", "Lookup", "LookupMemo"]

Lookup = Callable[..., LookupRows]  # HashIndex.lookup: (hashes, tracks=None) -> rows
# HashIndex.lookup_later: lookups in every track of each array, in order, on another connection;
# None when the index cannot (recognition/engine/index.py).
Later = Callable[[list[np.ndarray]], list["Future[LookupRows]"] | None]

# A clip's first lookup in every track bringing fewer rows than this asks nothing ahead: its
# rows grow with the catalog (chance matches), and so do its later lookups. In the benchmark's
# own catalog (~100 rows a never-indexed 5 s clip) asking ahead made such clips slower, at 10^8
# triplet rows (~8,400) faster (docs/decisions.md, ask_ahead).
ASK_AHEAD_MIN_ROWS = 2000


class LookupMemo:
    """A per-clip memo of lookups: each value is asked of the index in every track once per
    clip, and repeats are answered from the rows already read.

    A clip that fails as heard is retried at four speeds, and some of the retries' triplets are
    values it looked up as heard: low, short steps, which a 1-2 % speed change leaves alone and
    which are the commonest, so they hold more than their share of the rows (docs/decisions.md,
    LookupMemo). Each value's rows do not depend on the other values asked with it, so the
    answers are the same. Lookups in named tracks pass through.

    With `later`, `ask_ahead` sends the values of looks still to come to the index while the
    clip's own work goes on, and a lookup that asks them waits for their rows instead of asking
    again (docs/decisions.md, ask_ahead). Rows come from the index either way, so the answers are
    the same.
    """

    def __init__(self, lookup: Lookup, later: Later | None = None):
        self._lookup = lookup
        self._later = later
        self._asked = np.empty(0, np.int64)  # sorted
        self._rows: LookupRows | None = None  # of every value asked
        self._pending: list[tuple[np.ndarray, Future[LookupRows]]] = []  # asked ahead, not yet read

    @property
    def asks_ahead(self) -> bool:
        """Whether later lookups are worth asking ahead: the index can, and the clip's first
        lookup brought ASK_AHEAD_MIN_ROWS rows or more (a catalog large enough that its later
        lookups take longer than handing them over costs)."""
        return self._later is not None and self._rows is not None and len(self._rows) >= ASK_AHEAD_MIN_ROWS

    def ask_ahead(self, groups: list[np.ndarray]) -> bool:
        """Send each group's values not asked yet to the index, in order, to be read later;
        False (nothing sent) when the index cannot look up elsewhere right now."""
        if self._later is None:
            return False
        taken = arrays.distinct(np.concatenate([self._asked, *(values for values, _ in self._pending)]))
        fresh = []
        for group in groups:
            wanted = arrays.distinct(np.asarray(group, np.int64))
            wanted = wanted[~arrays.isin_sorted(wanted, taken)]
            taken = arrays.distinct(np.concatenate([taken, wanted]))
            fresh.append(wanted)
        fresh = [values for values in fresh if values.size]
        if not fresh:
            return True
        futures = self._later(fresh)
        if futures is None:
            return False
        self._pending.extend(zip(fresh, futures, strict=True))
        return True

    def __call__(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        if tracks is not None:
            return self._lookup(hashes, tracks)
        wanted = arrays.distinct(np.asarray(hashes, np.int64))
        self._collect(wanted)
        new = wanted[~arrays.isin_sorted(wanted, self._asked)]
        if new.size:
            found = self._lookup(new)
            first = self._rows is None
            self._add(new, found)
            if first:  # the first lookup (all a clip decided as heard makes)
                return found
        if self._rows is None:  # nothing asked yet
            return LookupRows.empty()
        # The rows are kept sorted by hash: each wanted value's rows are one run of them, found
        # by two binary searches rather than every row read so far tested.
        rows = self._rows
        keep = arrays.ranges(*np.searchsorted(rows.hashes, [wanted, wanted + 1]))
        return LookupRows(rows.hashes[keep], rows.track_ids[keep], rows.offsets[keep])

    def _collect(self, wanted: np.ndarray) -> None:
        """Wait for the groups asked ahead that hold any of `wanted`, and every one sent before
        them (the index answers them in order); a group whose lookup failed is asked here."""
        last = max(
            (i for i, (values, _) in enumerate(self._pending) if arrays.isin_sorted(values, wanted).any()), default=-1
        )
        for values, future in self._pending[: last + 1]:
            if future.cancel():  # not started (the index is busy with another clip's): ask here
                rows = self._lookup(values)
            else:
                try:
                    rows = future.result()
                except Exception:  # the other connection failed: ask on this one, which reports it
                    rows = self._lookup(values)
            self._add(values, rows)
        del self._pending[: last + 1]

    def _add(self, values: np.ndarray, found: LookupRows) -> None:
        self._asked = arrays.distinct(np.concatenate([self._asked, values]))
        rows = found if self._rows is None else LookupRows.concatenate([self._rows, found])
        order = np.argsort(rows.hashes, kind="stable")  # a merge of the runs: those held, those found
        self._rows = LookupRows(rows.hashes[order], rows.track_ids[order], rows.offsets[order])
