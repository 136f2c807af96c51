"""Hash indexes the identify tests watch: lookups recorded, on the synthetic songs' landmarks."""

from __future__ import annotations

import numpy as np

from recognition.engine import Identifier, LookupRows, MemoryIndex
from recognition.engine import fingerprint as fp

__all__ = ["CountingIndex", "counted_engine_without_smoothing"]


class CountingIndex:
    """A MemoryIndex whose lookups are recorded: which hashes were asked for, in which tracks."""

    def __init__(self, index: MemoryIndex):
        self.index = index
        self.calls: list[tuple[np.ndarray, np.ndarray | None]] = []

    def lookup(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        self.calls.append((np.asarray(hashes), None if tracks is None else np.asarray(tracks)))
        return self.index.lookup(hashes, tracks)

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        return self.index.track_frames(track_ids)

    def track_count(self) -> int:
        return self.index.track_count()

    def sketch_slices(self, track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
        return self.index.sketch_slices(track_ids, first_frames, n_frames)


def counted_engine_without_smoothing(songs: dict[int, np.ndarray]) -> tuple[CountingIndex, Identifier]:
    """An engine over the songs whose lookups are recorded, with no smoothed retry, no denser look
    and no wide retries (so a clip that fails as heard goes straight to the near speed retries,
    and no further)."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    counting = CountingIndex(index)
    engine = Identifier(counting, smoothed_params=None, dense_params=None, wide_variants=())
    return counting, engine
