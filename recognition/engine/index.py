"""What the engine reads a catalog through: the HashIndex protocol and the rows a lookup returns.

Two implementations: recognition.store.PostgresIndex (the portal's PostgreSQL tables) and
MemoryIndex (recognition/engine/memory.py, for tests, studies and fuzzing). numpy only; no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["HashIndex", "LookupRows"]


@dataclass(frozen=True)
class LookupRows:
    """Stored rows whose hash was asked for, as parallel arrays: int32 hashes, int64 track ids,
    int32 offsets in whole frames."""

    hashes: np.ndarray
    track_ids: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.hashes.size)

    @classmethod
    def empty(cls) -> LookupRows:
        none = np.empty(0, np.int32)
        return cls(none, none.astype(np.int64), none)

    @classmethod
    def concatenate(cls, parts: list[LookupRows]) -> LookupRows:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        return cls(
            hashes=np.concatenate([p.hashes for p in parts]),
            track_ids=np.concatenate([p.track_ids for p in parts]),
            offsets=np.concatenate([p.offsets for p in parts]),
        )


class HashIndex(Protocol):
    """A catalog as the engine reads it: stored hashes, track lengths, the catalog's size and the
    tracks' frame sketches. Where they are stored and how they are cached is the index's own
    business; the engine only asks.

    An index may also offer `lookup_later(groups) -> list[Future[LookupRows]] | None`: lookups
    in every track of each group of hashes, in order, run elsewhere while the engine works (None
    when it cannot just then); the engine asks a clip's later looks' lookups ahead through it
    (LookupMemo.ask_ahead) and reads them through the futures."""

    def lookup(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        """Return the stored rows whose hash is in `hashes`. In every track (None): triplets only,
        at most MAX_ROWS_PER_TRIPLET rows of each value, the earliest in track time. In `tracks`:
        every row of those tracks, pairs and triplets."""
        ...

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        """Return each track's length in frames (0 for an unknown id)."""
        ...

    def track_count(self) -> int:
        """Return how many tracks can match, which the false-match bound counts (0: count only
        the tracks with votes)."""
        ...

    def sketch_slices(self, track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
        """Return each track's sketch from its first frame on, uint16 (tracks, n_frames), 0 where
        it has no frame (before its start, past its end, none stored)."""
        ...
