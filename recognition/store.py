"""The one place that knows the hash table's layout and speaks its bulk SQL.

Writes use COPY in PostgreSQL's binary format, built straight from numpy arrays (no Python
object per row). A lookup is one statement: the query's hashes probe the primary key (in every
track) or filter a few tracks' rows read through the track_id index (the candidates of a
two-stage lookup); rows come back through COPY ... TO STDOUT in binary and are parsed by numpy.
Offsets are stored in whole frames.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
from django.db import connection

from recognition.fingerprint import Fingerprints

__all__ = [
    "TABLE",
    "LookupRows",
    "count_track_rows",
    "delete_track_hashes",
    "lookup",
    "table_size",
    "write_track_hashes",
]

TABLE = "recognition_fingerprint"  # spelled out in the SQL below: statements are constants

# The primary key is probed once per query hash (index-only): a lateral subquery per element of
# unnest(). "hash = ANY(array)" with thousands of values made PostgreSQL scan the whole table
# (18 ms vs 6 ms for 2,200 hashes over 250,000 rows), and a plain join against unnest() turned,
# for the ~30,000 hashes of a speed retry, into a merge join over the whole index (44 vs 31 ms
# at 626,000 rows; ~700 ms at 10^7). "OFFSET 0" keeps the planner from flattening the subquery
# back into such a join.
_LOOKUP_SQL = (
    "COPY (SELECT x.hash, x.offset_frames, x.track_id FROM unnest(%s::int4[]) AS q(hash) "
    "CROSS JOIN LATERAL (SELECT f.hash, f.offset_frames, f.track_id FROM recognition_fingerprint AS f "
    "WHERE f.hash = q.hash OFFSET 0) AS x) TO STDOUT WITH (FORMAT binary)"
)

# Stage 2 of a lookup (recognition/identify.py) wants a few candidate tracks' rows only: they
# are read through the track_id index (COPY wrote each track's rows together, so they sit on few
# heap pages) and filtered on the query's hashes (a hashed filter for a constant array), at the
# same cost whatever the table's size. "hash + 0" keeps the planner off the primary key, which
# it sometimes prefers for a long hash list and which reads every track's rows of those hashes.
_LOOKUP_IN_TRACKS_SQL = (
    "COPY (SELECT f.hash, f.offset_frames, f.track_id FROM recognition_fingerprint AS f "
    "WHERE f.track_id = ANY(%s::int8[]) AND f.hash + 0 = ANY(%s::int4[])) TO STDOUT WITH (FORMAT binary)"
)

_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
# One binary COPY row: field count, then (length, value) for hash, offset_frames, track_id.
_ROW = np.dtype([
    ("fields", ">i2"),
    ("hash_len", ">i4"), ("hash", ">i4"),
    ("offset_len", ">i4"), ("offset", ">i4"),
    ("track_len", ">i4"), ("track", ">i8"),
])  # fmt: skip


@dataclass(frozen=True)
class LookupRows:
    """Stored rows whose hash was asked for."""

    hashes: np.ndarray
    track_ids: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return int(self.hashes.size)


def write_track_hashes(track_id: int, fingerprints: Fingerprints) -> int:
    """COPY a track's hashes in the caller's transaction; return the number of rows written.

    Offsets are rounded to whole frames; a (hash, frame) pair that rounding makes twice is
    stored once.
    """
    packed = np.unique((fingerprints.hashes.astype(np.int64) << 32) | np.rint(fingerprints.offsets).astype(np.int64))
    rows = np.empty(packed.size, dtype=_ROW)
    rows["fields"] = 3
    rows["hash_len"] = 4
    rows["hash"] = packed >> 32
    rows["offset_len"] = 4
    rows["offset"] = packed & 0xFFFFFFFF
    rows["track_len"] = 8
    rows["track"] = track_id
    payload = io.BytesIO(_COPY_SIGNATURE + rows.tobytes() + _COPY_TRAILER)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            "COPY recognition_fingerprint (hash, offset_frames, track_id) FROM STDIN WITH (FORMAT binary)", payload
        )
    return int(rows.size)


def _array_literal(values: np.ndarray) -> str:
    return "{" + ",".join(map(str, values.tolist())) + "}"


def lookup(hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
    """Return every stored row whose hash is in `hashes` (and, given `tracks`, whose track is
    one of them), in one round trip."""
    wanted = np.unique(np.asarray(hashes, dtype=np.int64))
    if wanted.size == 0 or (tracks is not None and len(tracks) == 0):
        empty = np.empty(0, np.int32)
        return LookupRows(empty, empty.astype(np.int64), empty)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        # COPY takes no bind parameters, so the arrays go in through psycopg2's quoting, each as
        # one text literal (quoting thousands of integers one by one costs more than the lookup).
        if tracks is None:
            sql = cursor.cursor.mogrify(_LOOKUP_SQL, [_array_literal(wanted)])
        else:
            track_ids = np.unique(np.asarray(tracks, dtype=np.int64))
            sql = cursor.cursor.mogrify(_LOOKUP_IN_TRACKS_SQL, [_array_literal(track_ids), _array_literal(wanted)])
        cursor.cursor.copy_expert(sql.decode(), buffer)
    data = buffer.getbuffer()
    header = len(_COPY_SIGNATURE)
    body = data[header : len(data) - len(_COPY_TRAILER)]
    rows = np.frombuffer(body, dtype=_ROW)
    return LookupRows(
        hashes=rows["hash"].astype(np.int32),
        track_ids=rows["track"].astype(np.int64),
        offsets=rows["offset"].astype(np.int32),
    )


def delete_track_hashes(track_id: int) -> int:
    """Delete a track's hashes in one statement (a replaced reference; deleting the track
    itself cascades in PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM recognition_fingerprint WHERE track_id = %s", [track_id])
        return cursor.rowcount


def count_track_rows(track_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM recognition_fingerprint WHERE track_id = %s", [track_id])
        return int(cursor.fetchone()[0])


def table_size() -> dict[str, int]:
    """Rows (planner estimate when large) and bytes of the hash table, indexes included."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size(%s::regclass), pg_relation_size(%s::regclass), "
            "pg_indexes_size(%s::regclass), (SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass)",
            [TABLE] * 4,
        )
        total, heap, indexes, estimate = cursor.fetchone()
        rows = estimate
        if estimate is None or estimate < 1_000_000:
            cursor.execute("SELECT count(*) FROM recognition_fingerprint")
            rows = cursor.fetchone()[0]
    return {"rows": int(rows), "total_bytes": int(total), "heap_bytes": int(heap), "index_bytes": int(indexes)}
