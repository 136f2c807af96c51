"""What a lookup returns: stored rows as parallel arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LookupRows"]


@dataclass(frozen=True)
class LookupRows:
    """Stored rows whose hash was asked for."""

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
