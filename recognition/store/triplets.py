"""Triplet rows: recognition_fingerprint, indexed by hash, searched in every track (stage 1).

Written with COPY in PostgreSQL's binary format, built straight from numpy arrays, and read back
the same way.
"""

from __future__ import annotations

import numpy as np
from django.db import connection

from recognition.engine import LookupRows
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET
from recognition.store.copy_format import TRIPLET_ROW, array_literal, copy_body, copy_out, copy_payload
from recognition.store.presence import note_triplets_written, triplet_filter

__all__ = ["TABLE", "triplet_rows", "write_triplet_rows"]

TABLE = "recognition_fingerprint"  # spelled out in the SQL below: statements are constants

# The primary key is probed once per query hash (index-only): a lateral subquery per element of
# unnest(). "hash = ANY(array)" with thousands of values makes PostgreSQL scan the whole table,
# and a plain join against unnest() turns, for the tens of thousands of hashes of a speed retry,
# into a merge join over the whole index, whose cost grows with the table (docs/decisions.md,
# _LOOKUP_SQL). The LIMIT (the row cap, rows in key order) keeps the planner from flattening the
# subquery back into such a join, and stops a probe of a common value early.
_LOOKUP_SQL = (
    "COPY (SELECT x.hash, x.offset_frames, x.track_id FROM unnest(%s::int4[]) AS q(hash) "
    "CROSS JOIN LATERAL (SELECT f.hash, f.offset_frames, f.track_id FROM recognition_fingerprint AS f "
    "WHERE f.hash = q.hash ORDER BY f.offset_frames, f.track_id LIMIT %s) AS x) TO STDOUT WITH (FORMAT binary)"
)

# Triplets of a few tracks only (when a caller names the tracks; the engine's own lookups ask
# for triplets in every track and for pairs in candidates): read through the track_id index
# (COPY wrote each track's rows together, so they sit on few heap pages) and filtered on the
# query's hashes, at the same cost whatever the table's size. "hash + 0" keeps the planner off
# the primary key, which it sometimes prefers for a long hash list and which reads every
# track's rows of those hashes.
_LOOKUP_IN_TRACKS_SQL = (
    "COPY (SELECT f.hash, f.offset_frames, f.track_id FROM recognition_fingerprint AS f "
    "WHERE f.track_id = ANY(%s::int8[]) AND f.hash + 0 = ANY(%s::int4[])) TO STDOUT WITH (FORMAT binary)"
)


def write_triplet_rows(cursor, track_id: int, hashes: np.ndarray, frames: np.ndarray) -> None:
    """COPY a track's triplets in, in the cursor's transaction, and tell the presence filters."""
    rows = np.empty(hashes.size, dtype=TRIPLET_ROW)
    rows["fields"] = 3
    rows["hash_len"] = 4
    rows["hash"] = hashes
    rows["offset_len"] = 4
    rows["offset"] = frames
    rows["track_len"] = 8
    rows["track"] = track_id
    cursor.cursor.copy_expert(
        "COPY recognition_fingerprint (hash, offset_frames, track_id) FROM STDIN WITH (FORMAT binary)",
        copy_payload(rows.tobytes()),
    )
    if hashes.size:
        note_triplets_written(cursor, track_id)


def triplet_rows(
    wanted: np.ndarray, track_ids: np.ndarray | None, *, row_cap: int = MAX_ROWS_PER_TRIPLET
) -> LookupRows:
    """Stored triplets with a hash in `wanted`: in `track_ids` every row, in every track (None)
    the first `row_cap` rows of each value in track time, of the values the filter may hold."""
    with connection.cursor() as cursor:
        if track_ids is None and wanted.size:
            wanted = wanted[triplet_filter(cursor).may_hold(wanted)]
        if wanted.size == 0:
            return LookupRows.empty()
        if track_ids is None:
            buffer = copy_out(cursor, _LOOKUP_SQL, [array_literal(wanted), row_cap])
        else:
            buffer = copy_out(cursor, _LOOKUP_IN_TRACKS_SQL, [array_literal(track_ids), array_literal(wanted)])
    rows = np.frombuffer(copy_body(buffer), dtype=TRIPLET_ROW)
    return LookupRows(
        hashes=rows["hash"].astype(np.int32),
        track_ids=rows["track"].astype(np.int64),
        offsets=rows["offset"].astype(np.int32),
    )
