"""Pair lists: each track's pairs as one packed value of recognition_pairlist.

Pairs are only read in a few candidate tracks (stage 2 of a lookup), so they need no index by
hash: a track's list is read whole and filtered on the query's hashes by numpy. A row per pair
costs ~100 bytes with its index entries; a packed pair a few bytes (docs/decisions.md,
PairList).
"""

from __future__ import annotations

import numpy as np
from django.db import connection

from recognition.engine import LookupRows, arrays
from recognition.store.copy_format import array_literal, copy_out, id_and_bytes_rows

__all__ = ["PACKED_PAIR", "PAIR_TABLE", "pack_pairs", "pair_rows", "unpack_pairs", "write_pair_list"]

PAIR_TABLE = "recognition_pairlist"

_PAIR_LISTS_SQL = (
    "COPY (SELECT track_id, packed FROM recognition_pairlist WHERE track_id = ANY(%s::int8[])) "
    "TO STDOUT WITH (FORMAT binary)"
)
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
    planes = np.frombuffer(packed, dtype=np.uint8).reshape(PACKED_PAIR.itemsize, -1)
    values = np.ascontiguousarray(planes.T).view(PACKED_PAIR).ravel().astype(np.int64)
    return values >> 32, values & 0xFFFFFFFF


def write_pair_list(cursor, track_id: int, hashes: np.ndarray, frames: np.ndarray) -> None:
    """Store a track's pairs as its one list, in the cursor's transaction."""
    cursor.execute(
        "INSERT INTO recognition_pairlist (track_id, packed) VALUES (%s, %s)",
        [track_id, pack_pairs(hashes, frames)],
    )


def pair_rows(wanted: np.ndarray, track_ids: np.ndarray) -> LookupRows:
    """The tracks' pairs whose hash is in `wanted` (sorted): their lists, filtered by numpy."""
    with connection.cursor() as cursor:
        lists = id_and_bytes_rows(copy_out(cursor, _PAIR_LISTS_SQL, [array_literal(track_ids)]))
    if not lists:
        return LookupRows.empty()
    unpacked = [unpack_pairs(packed) for _, packed in lists]
    hashes = np.concatenate([h for h, _ in unpacked])
    frames = np.concatenate([f for _, f in unpacked])
    owners = np.repeat([track_id for track_id, _ in lists], [h.size for h, _ in unpacked])
    kept = arrays.isin_sorted(hashes, wanted)
    return LookupRows(
        hashes=hashes[kept].astype(np.int32),
        track_ids=owners[kept].astype(np.int64),
        offsets=frames[kept].astype(np.int32),
    )
