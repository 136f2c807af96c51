"""An in-process HashIndex that answers as the PostgreSQL store does.

For engine tests, parameter studies and fuzzing, where a database would only add noise.
numpy only; no Django.
"""

from __future__ import annotations

import numpy as np

from recognition.engine import arrays
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET, Fingerprints, is_triplet
from recognition.engine.index import LookupRows

__all__ = ["MemoryIndex"]


class MemoryIndex:
    """Hash rows of many tracks, sorted by hash, looked up with a binary search.

    As in the store, a lookup in every track finds triplets only, unless `pairs_in_every_track`
    (one-stage lookups, for parameter studies), and at most `max_rows_per_triplet` rows of each
    (the earliest offsets; None: all, for studies).
    """

    def __init__(
        self, *, pairs_in_every_track: bool = False, max_rows_per_triplet: int | None = MAX_ROWS_PER_TRIPLET
    ) -> None:
        self.pairs_in_every_track = pairs_in_every_track
        self.max_rows_per_triplet = max_rows_per_triplet
        self._pending: list[tuple[int, Fingerprints]] = []
        self._frames: dict[int, int] = {}
        self._sketches: dict[int, np.ndarray] = {}
        self._hashes = np.empty(0, np.int32)
        self._track_ids = np.empty(0, np.int64)
        self._offsets = np.empty(0, np.int32)

    def add(self, track_id: int, fingerprints: Fingerprints, sketch: np.ndarray | None = None) -> None:
        self._pending.append((track_id, fingerprints))
        self._frames[track_id] = fingerprints.n_frames
        if sketch is not None:
            self._sketches[track_id] = np.asarray(sketch, dtype=np.uint16)

    def __len__(self) -> int:
        self._build()
        return int(self._hashes.size)

    def _build(self) -> None:
        if not self._pending:
            return
        hashes = [self._hashes] + [fp.hashes for _, fp in self._pending]
        tracks = [self._track_ids] + [np.full(len(fp), t, np.int64) for t, fp in self._pending]
        offsets = [self._offsets] + [np.rint(fp.offsets).astype(np.int32) for _, fp in self._pending]
        self._pending.clear()
        all_hashes, all_tracks, all_offsets = np.concatenate(hashes), np.concatenate(tracks), np.concatenate(offsets)
        order = np.lexsort((all_tracks, all_offsets, all_hashes))  # the store's key order
        self._hashes = all_hashes[order]
        self._track_ids = all_tracks[order]
        self._offsets = all_offsets[order]

    def lookup(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        """Return the stored rows whose hash is in `hashes` (and, given `tracks`, whose track is
        one of them)."""
        self._build()
        wanted = arrays.distinct(np.asarray(hashes))
        if tracks is None and not self.pairs_in_every_track:
            wanted = wanted[is_triplet(wanted)]
        lo = np.searchsorted(self._hashes, wanted, side="left")
        hi = np.searchsorted(self._hashes, wanted, side="right")
        counts = hi - lo
        if tracks is None and self.max_rows_per_triplet is not None:
            counts = np.where(is_triplet(wanted), np.minimum(counts, self.max_rows_per_triplet), counts)
        total = int(counts.sum())
        rows = np.repeat(lo, counts) + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        if tracks is not None:
            rows = rows[np.isin(self._track_ids[rows], tracks)]
        return LookupRows(self._hashes[rows], self._track_ids[rows], self._offsets[rows])

    def sketch_slices(self, track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
        """Each track's sketch from its first frame on, `n_frames` long (0 where it has no frame)."""
        out = np.zeros((len(track_ids), n_frames), np.uint16)
        pairs = zip(np.asarray(track_ids).tolist(), np.asarray(first_frames).tolist(), strict=True)
        for row, (track, first) in enumerate(pairs):
            frames = self._sketches.get(track)
            if frames is None:
                continue
            lo, hi = max(first, 0), min(first + n_frames, frames.size)
            if hi > lo:
                out[row, lo - first : hi - first] = frames[lo:hi]
        return out

    def hash_counts(self) -> np.ndarray:
        """Rows per distinct stored hash value (how skewed the hash space is)."""
        self._build()
        return np.unique(self._hashes, return_counts=True)[1]

    def track_count(self) -> int:
        return len(self._frames)

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        return np.array([self._frames.get(int(t), 0) for t in track_ids], dtype=np.int64)
