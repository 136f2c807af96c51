"""Pair lists: each track's pairs as one packed value of recognition_pairlist.

Pairs are only read in a few candidate tracks (stage 2 of a lookup), so they need no index by
hash: a track's list is read whole and filtered on the query's hashes by numpy. A row per pair
costs ~100 bytes with its index entries; a packed pair a few bytes (docs/decisions.md,
PairList).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from django.db import connection

from recognition.engine import LookupRows, arrays
from recognition.store.copy_format import array_literal, copy_out, id_and_bytes_rows

__all__ = [
    "PACKED_PAIR",
    "PAIR_TABLE",
    "forget_pair_lists",
    "pack_pairs",
    "pair_rows",
    "unpack_pairs",
    "write_pair_list",
]

PAIR_TABLE = "recognition_pairlist"

_PAIR_LISTS_SQL = (
    "COPY (SELECT track_id, packed FROM recognition_pairlist WHERE track_id = ANY(%s::int8[])) "
    "TO STDOUT WITH (FORMAT binary)"
)
# Which version of each list is stored: a replaced list is a new row (another xmin and ctid).
# Reads the rows' heads only, not their out-of-line packed values.
_VERSIONS_SQL = "SELECT track_id, xmin::text || ctid::text FROM recognition_pairlist WHERE track_id = ANY(%s::int8[])"
# A packed pair: big-endian int8 (hash << 32 | frame), so that sorting the values sorts by hash.
# A list stores its values' bytes in 8 planes (every value's first byte, then every second
# byte...): the high bytes of sorted hashes and of frames vary slowly, so PostgreSQL's lz4 then
# compresses a list to about half of what the plain values take (migration 0006).
PACKED_PAIR = np.dtype(">i8")


def pack_pairs(hashes: np.ndarray, frames: np.ndarray) -> bytes:
    """A track's pair list as stored: each (hash, whole frame) once, sorted by hash, in byte planes."""
    values = arrays.distinct((np.asarray(hashes, np.int64) << 32) | np.asarray(frames, np.int64))
    return values.astype(PACKED_PAIR).view(np.uint8).reshape(-1, PACKED_PAIR.itemsize).T.tobytes()


def unpack_pairs(packed: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, frames) of one pair list's bytes."""
    values = _values(packed)
    return values >> 32, values & 0xFFFFFFFF


def write_pair_list(cursor, track_id: int, hashes: np.ndarray, frames: np.ndarray) -> None:
    """Store a track's pairs as its one list, in the cursor's transaction."""
    cursor.execute(
        "INSERT INTO recognition_pairlist (track_id, packed) VALUES (%s, %s)",
        [track_id, pack_pairs(hashes, frames)],
    )


def pair_rows(wanted: np.ndarray, track_ids: np.ndarray) -> LookupRows:
    """The tracks' pairs whose hash is in `wanted` (sorted): their lists, filtered by numpy,
    read from this process's cache of lists when the stored version is the one it holds."""
    with connection.cursor() as cursor:
        lists = _PAIR_LISTS.lists(cursor, np.asarray(track_ids, np.int64))
    if not lists:
        return LookupRows.empty()
    values = np.concatenate([v for _, v in lists])
    owners = np.repeat([track_id for track_id, _ in lists], [v.size for _, v in lists])
    hashes = values >> 32
    kept = arrays.isin_sorted(hashes, wanted)
    return LookupRows(
        hashes=hashes[kept].astype(np.int32),
        track_ids=owners[kept].astype(np.int64),
        offsets=(values[kept] & 0xFFFFFFFF).astype(np.int32),
    )


# Unpacked values (hash << 32 | frame) a process keeps: 8 bytes a pair, ~16 MB. A never-indexed
# clip reads its looks' candidates' lists, and about half of them are lists an earlier look of the
# same clip read; in a small catalog, most are lists an earlier clip read (docs/decisions.md,
# "Stage 2's pair lists kept"). 0 reads every list every time (that A/B's other arm).
PAIR_CACHE_PAIRS = 2_000_000


class _PairListCache:
    """Unpacked pair lists by track, each with the stored version it was read at; least recently
    used first out. A list replaced since is read again; a list deleted is no longer found."""

    def __init__(self) -> None:
        self._lists: OrderedDict[int, tuple[str, np.ndarray]] = OrderedDict()
        self._pairs = 0
        self._lock = threading.Lock()

    def lists(self, cursor, track_ids: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(track, values) of the tracks that have a list, in `track_ids`' order (the rows' own
        order when the cache is off)."""
        if PAIR_CACHE_PAIRS <= 0:
            rows = id_and_bytes_rows(copy_out(cursor, _PAIR_LISTS_SQL, [array_literal(track_ids)]))
            return [(track_id, _values(packed)) for track_id, packed in rows]
        cursor.execute(_VERSIONS_SQL, [array_literal(track_ids)])
        versions = dict(cursor.fetchall())
        order = [t for t in dict.fromkeys(int(t) for t in track_ids) if t in versions]
        with self._lock:
            held = {t: self._lists[t][1] for t in order if t in self._lists and self._lists[t][0] == versions[t]}
        read: dict[int, np.ndarray] = {}
        missing = [t for t in order if t not in held]
        if missing:
            rows = id_and_bytes_rows(copy_out(cursor, _PAIR_LISTS_SQL, [array_literal(np.array(missing, np.int64))]))
            read = {track_id: _values(packed) for track_id, packed in rows}
            held.update(read)
        with self._lock:  # most recently used: the tracks' order in this call, whatever the rows' order
            for track_id in order:
                if track_id in read:
                    self._keep(track_id, versions[track_id], read[track_id])
                elif track_id in self._lists:
                    self._lists.move_to_end(track_id)
        return [(t, held[t]) for t in order if t in held]

    def _keep(self, track_id: int, version: str, values: np.ndarray) -> None:
        if values.size > PAIR_CACHE_PAIRS:
            return
        values.flags.writeable = False  # shared by every later read of the list
        if track_id in self._lists:
            self._pairs -= self._lists.pop(track_id)[1].size
        self._lists[track_id] = (version, values)
        self._pairs += values.size
        while self._pairs > PAIR_CACHE_PAIRS:
            self._pairs -= self._lists.popitem(last=False)[1][1].size

    def clear(self) -> None:
        with self._lock:
            self._lists.clear()
            self._pairs = 0


def _values(packed: bytes | memoryview) -> np.ndarray:
    """One pair list's values (hash << 32 | frame, int64), as unpack_pairs reads them."""
    planes = np.frombuffer(packed, dtype=np.uint8).reshape(PACKED_PAIR.itemsize, -1)
    return np.ascontiguousarray(planes.T).view(PACKED_PAIR).ravel().astype(np.int64)


_PAIR_LISTS = _PairListCache()


def forget_pair_lists() -> None:
    """Drop this process's cached pair lists (tests that count the lists read, and timing runs
    that start each arm empty)."""
    _PAIR_LISTS.clear()
