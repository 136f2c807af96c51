"""Stage 1's presence filter: which triplet values one database may hold, kept per process.

A lookup in every track probes the primary key once per query triplet: ~1 us each while the
key is in memory, a page read each once it is not. Only a few per cent of a clip's triplets are
stored at all, so each process keeps a bitmap of the stored values and probes only the triplets
it may hold.

A bit left set for a value no longer stored (a deleted track) costs one probe that finds
nothing; a bit missing would lose a match. So before each lookup the filter reads which tracks'
triplets were written (recognition_tripletwrite) by transactions not yet ended when it last
looked: every transaction with an id below that snapshot's xmin had ended, and its writes were
seen then or earlier. A restored database needs the processes restarted (scripts/restore.sh).
"""

from __future__ import annotations

import threading

import numpy as np
from django.db import connection

from recognition.store.copy_format import array_literal, copy_body, copy_out

__all__ = ["WRITE_TABLE", "TripletFilter", "forget_triplet_filters", "note_triplets_written", "triplet_filter"]

WRITE_TABLE = "recognition_tripletwrite"

# One bit per value, at a place chosen by Knuth's multiplicative hash (the top 28 of the low 32
# bits of value x 2654435761): 2^28 bits, 32 MB a process. A clip's triplets sit next to stored
# ones (the same anchor and steps, a time step apart), so the bit must not be picked by the
# value's own top bits: a bit per run of neighbouring values lets half of the unstored values a
# clip asks for through, where a hashed bit lets a few per cent through (docs/decisions.md,
# _FILTER_BITS).
_FILTER_BITS = 28
_FILTER_SHIFT = 32 - _FILTER_BITS
_MULTIPLIER = np.uint32(2654435761)
_NEW_WRITES_SQL = (
    "WITH w AS (SELECT track_id, xid FROM recognition_tripletwrite WHERE xid >= %s) "
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8, "
    "(SELECT array_agg(track_id) FROM w), (SELECT array_agg(xid) FROM w)"
)
_TRACK_TRIPLETS_SQL = "SELECT hash FROM recognition_fingerprint WHERE track_id = ANY(%s::int8[])"
_HASH_COLUMN = np.dtype([("fields", ">i2"), ("length", ">i4"), ("hash", ">i4")])


def note_triplets_written(cursor, track_id: int) -> None:
    """Record, in the writer's transaction, that it wrote this track's triplets: every process's
    filter learns them from this row once the transaction has ended."""
    cursor.execute(
        "INSERT INTO recognition_tripletwrite (track_id, xid) VALUES (%s, pg_current_xact_id()::text::int8)",
        [track_id],
    )


class TripletFilter:
    """Which triplet values may be stored in one database (see the module's docstring)."""

    def __init__(self) -> None:
        self._bits = np.zeros(1 << (_FILTER_BITS - 3), np.uint8)
        self._horizon: int | None = None  # xmin of the snapshot last read; None: nothing loaded
        self._seen: set[tuple[int, int]] = set()  # (track, xid) writes already added
        self._lock = threading.Lock()

    def may_hold(self, hashes: np.ndarray) -> np.ndarray:
        buckets = _bit_of(hashes)
        return (self._bits[buckets >> 3] >> (buckets & 7).astype(np.uint8)) & 1 == 1

    def refresh(self, cursor) -> None:
        with self._lock:
            if self._horizon is None:
                cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8")
                horizon = cursor.fetchone()[0]
                self._add(cursor, "SELECT hash FROM recognition_fingerprint", [])
                self._horizon = horizon
                return
            cursor.execute(_NEW_WRITES_SQL, [self._horizon])
            horizon, tracks, xids = cursor.fetchone()
            new = [write for write in zip(tracks or [], xids or [], strict=True) if write not in self._seen]
            if new:
                ids = array_literal(np.array([track for track, _ in new], np.int64))
                self._add(cursor, _TRACK_TRIPLETS_SQL, [ids])
                self._seen.update(new)
            # Writes below the new horizon will never be listed again.
            self._seen = {write for write in self._seen if write[1] >= horizon}
            self._horizon = horizon

    def _add(self, cursor, select: str, params: list) -> None:
        buffer = copy_out(cursor, f"COPY ({select}) TO STDOUT WITH (FORMAT binary)", params)
        hashes = np.frombuffer(copy_body(buffer), dtype=_HASH_COLUMN)["hash"].astype(np.int64)
        buckets = _bit_of(hashes)
        np.bitwise_or.at(self._bits, buckets >> 3, np.left_shift(1, buckets & 7).astype(np.uint8))


def _bit_of(hashes: np.ndarray) -> np.ndarray:
    """Each value's bit in the filter (see _MULTIPLIER): uint32 arithmetic wraps modulo 2^32."""
    return (np.asarray(hashes).astype(np.uint32) * _MULTIPLIER) >> np.uint32(_FILTER_SHIFT)


_filters: dict[tuple[str, str], TripletFilter] = {}
_filters_lock = threading.Lock()


def triplet_filter(cursor) -> TripletFilter:
    """This process's filter for the connection's database, brought up to date."""
    key = (connection.alias, str(connection.settings_dict["NAME"]))
    with _filters_lock:
        found = _filters.setdefault(key, TripletFilter())
    found.refresh(cursor)
    return found


def forget_triplet_filters() -> None:
    """Drop this process's presence filters: the next lookup reloads them from the table (for
    rows written without write_track_hashes, as the growth benchmark's synthetic ones are)."""
    with _filters_lock:
        _filters.clear()
