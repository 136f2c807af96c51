"""The one place that knows how hashes are stored and speaks their bulk SQL.

Two layouts, one per kind of hash (recognition/fingerprint/), each shaped by how it is read:

* Triplets are searched in every track (stage 1 of a lookup), so they are rows of
  recognition_fingerprint indexed by hash: written with COPY in PostgreSQL's binary format,
  built straight from numpy arrays, and read back the same way.
* Pairs are only read in a few candidate tracks (stage 2), so they need no index by hash: each
  track's pairs are one value of recognition_pairlist, sorted and packed, and filtered on the
  query's hashes by numpy. A row per pair cost ~100 bytes with its index entries; a packed pair
  costs ~3 (docs/scaling.md).

Offsets are stored in whole frames. Every lookup is one statement, after a cheap one that keeps
the stage-1 presence filter (below) up to date. A track's frame sketches (recognition/sketch.py)
are one more value, read a slice at a time.
"""

from __future__ import annotations

import io
import struct
import threading
from dataclasses import dataclass

import numpy as np
from django.db import connection

from recognition import arrays
from recognition.fingerprint import MAX_ROWS_PER_TRIPLET, Fingerprints, is_triplet

__all__ = [
    "PAIR_TABLE",
    "PARTIAL_TRACKS_SQL",
    "SKETCH_TABLE",
    "TABLE",
    "WRITE_TABLE",
    "LookupRows",
    "copy_payload",
    "count_track_rows",
    "delete_track_hashes",
    "forget_triplet_filters",
    "lookup",
    "pack_pairs",
    "partial_tracks",
    "sketch_slices",
    "table_size",
    "unpack_pairs",
    "write_track_hashes",
    "write_track_sketch",
]

TABLE = "recognition_fingerprint"  # spelled out in the SQL below: statements are constants
PAIR_TABLE = "recognition_pairlist"
WRITE_TABLE = "recognition_tripletwrite"
SKETCH_TABLE = "recognition_framesketch"

# The primary key is probed once per query hash (index-only): a lateral subquery per element of
# unnest(). "hash = ANY(array)" with thousands of values made PostgreSQL scan the whole table
# (18 ms vs 6 ms for 2,200 hashes over 250,000 rows), and a plain join against unnest() turned,
# for the ~30,000 hashes of a speed retry, into a merge join over the whole index (44 vs 31 ms
# at 626,000 rows; ~700 ms at 10^7). The LIMIT (MAX_ROWS_PER_TRIPLET, rows in key order) keeps
# the planner from flattening the subquery back into such a join, and stops a probe of a
# common value early.
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

_PAIR_LISTS_SQL = "SELECT track_id, packed FROM recognition_pairlist WHERE track_id = ANY(%s::int8[])"
# A packed pair: big-endian int8 (hash << 32 | frame), so that sorting the values sorts by hash.
# A list stores its values' bytes in 8 planes (every value's first byte, then every second
# byte...): the high bytes of sorted hashes and of frames vary slowly, so PostgreSQL's lz4 then
# compresses a list to ~3.2 bytes a pair instead of ~5.9 (migration 0006).
_PACKED_PAIR = np.dtype(">i8")

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
    """Store a track's hashes in the caller's transaction; return how many were stored.

    Offsets are rounded to whole frames; a (hash, frame) pair that rounding makes twice is
    stored once.
    """
    packed = arrays.distinct(
        (fingerprints.hashes.astype(np.int64) << 32) | np.rint(fingerprints.offsets).astype(np.int64)
    )
    hashes, frames = packed >> 32, packed & 0xFFFFFFFF
    triplet = is_triplet(hashes)
    rows = np.empty(int(triplet.sum()), dtype=_ROW)
    rows["fields"] = 3
    rows["hash_len"] = 4
    rows["hash"] = hashes[triplet]
    rows["offset_len"] = 4
    rows["offset"] = frames[triplet]
    rows["track_len"] = 8
    rows["track"] = track_id
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            "COPY recognition_fingerprint (hash, offset_frames, track_id) FROM STDIN WITH (FORMAT binary)",
            copy_payload(rows.tobytes()),
        )
        if triplet.any():  # processes' presence filters learn these triplets from this row
            cursor.execute(
                "INSERT INTO recognition_tripletwrite (track_id, xid) VALUES (%s, pg_current_xact_id()::text::int8)",
                [track_id],
            )
        if not triplet.all():
            cursor.execute(
                "INSERT INTO recognition_pairlist (track_id, packed) VALUES (%s, %s)",
                [track_id, pack_pairs(hashes[~triplet], frames[~triplet])],
            )
    return int(packed.size)


def pack_pairs(hashes: np.ndarray, frames: np.ndarray) -> bytes:
    """A track's pair list as stored: each (hash, whole frame) once, sorted by hash, in byte planes."""
    values = arrays.distinct((np.asarray(hashes, np.int64) << 32) | np.asarray(frames, np.int64))
    return values.astype(_PACKED_PAIR).view(np.uint8).reshape(-1, _PACKED_PAIR.itemsize).T.tobytes()


def unpack_pairs(packed: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, frames) of one pair list's bytes."""
    planes = np.frombuffer(packed, dtype=np.uint8).reshape(_PACKED_PAIR.itemsize, -1)
    values = np.ascontiguousarray(planes.T).view(_PACKED_PAIR).ravel().astype(np.int64)
    return values >> 32, values & 0xFFFFFFFF


def copy_payload(rows: bytes) -> io.BytesIO:
    """Rows in COPY's binary format, framed by its header and trailer, ready for COPY FROM STDIN."""
    return io.BytesIO(_COPY_SIGNATURE + rows + _COPY_TRAILER)


def _array_literal(values: np.ndarray) -> str:
    return "{" + ",".join(map(str, values.tolist())) + "}"


def lookup(hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
    """Return every stored hash in `hashes` (and, given `tracks`, of those tracks only).

    Pairs are kept per track, so only a lookup in named tracks finds them; in every track, a
    lookup finds triplets, at most MAX_ROWS_PER_TRIPLET rows of each value (the earliest in
    their tracks). One round trip per kind asked for.
    """
    wanted = arrays.distinct(np.asarray(hashes, dtype=np.int64))
    if wanted.size == 0 or (tracks is not None and len(tracks) == 0):
        return _no_rows()
    triplet = is_triplet(wanted)
    triplets = wanted[triplet]
    if tracks is None:
        return _triplet_rows(triplets, None)
    track_ids = arrays.distinct(np.asarray(tracks, dtype=np.int64))
    pairs = wanted[~triplet]
    found = [_pair_rows(pairs, track_ids)] if pairs.size else []
    if triplets.size:
        found.append(_triplet_rows(triplets, track_ids))
    return _concatenate(found)


def _no_rows() -> LookupRows:
    empty = np.empty(0, np.int32)
    return LookupRows(empty, empty.astype(np.int64), empty)


def _concatenate(parts: list[LookupRows]) -> LookupRows:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _no_rows()
    return LookupRows(
        hashes=np.concatenate([p.hashes for p in parts]),
        track_ids=np.concatenate([p.track_ids for p in parts]),
        offsets=np.concatenate([p.offsets for p in parts]),
    )


def _triplet_rows(wanted: np.ndarray, track_ids: np.ndarray | None) -> LookupRows:
    with connection.cursor() as cursor:
        if track_ids is None and wanted.size:
            wanted = wanted[_triplet_filter(cursor).may_hold(wanted)]
        if wanted.size == 0:
            return _no_rows()
        buffer = io.BytesIO()
        # COPY takes no bind parameters, so the arrays go in through psycopg2's quoting, each as
        # one text literal (quoting thousands of integers one by one costs more than the lookup).
        if track_ids is None:
            sql = cursor.cursor.mogrify(_LOOKUP_SQL, [_array_literal(wanted), MAX_ROWS_PER_TRIPLET])
        else:
            sql = cursor.cursor.mogrify(_LOOKUP_IN_TRACKS_SQL, [_array_literal(track_ids), _array_literal(wanted)])
        cursor.cursor.copy_expert(sql.decode(), buffer)
    rows = np.frombuffer(_copy_body(buffer), dtype=_ROW)
    return LookupRows(
        hashes=rows["hash"].astype(np.int32),
        track_ids=rows["track"].astype(np.int64),
        offsets=rows["offset"].astype(np.int32),
    )


def _copy_body(buffer: io.BytesIO) -> memoryview:
    """The rows of a binary COPY's output, without its header and trailer."""
    data = buffer.getbuffer()
    return data[len(_COPY_SIGNATURE) : len(data) - len(_COPY_TRAILER)]


# --- Stage 1's presence filter -------------------------------------------------------------------
# A lookup in every track probes the primary key once per query triplet: ~1 us each while the
# key is in memory, a page read each once it is not. Only ~3 % of a 5 s clip's triplets (2 % of
# its speed retries') are stored at all (measured on the benchmark catalog), so each process
# keeps a bitmap of the stored values and probes only the triplets it may hold.
# A bit left set for a value no longer stored (a deleted track) costs one probe that finds
# nothing; a bit missing would lose a match. So before each lookup the filter reads which tracks'
# triplets were written (recognition_tripletwrite) by transactions not yet ended when it last
# looked: every transaction with an id below that snapshot's xmin had ended, and its writes were
# seen then or earlier. A restored database needs the processes restarted (scripts/restore.sh).
_FILTER_BITS = 28  # 2^28 buckets of 16 values: 32 MB a process; ~25 % set at 8*10^7 distinct values
_FILTER_SHIFT = 32 - _FILTER_BITS
_NEW_WRITES_SQL = (
    "WITH w AS (SELECT track_id, xid FROM recognition_tripletwrite WHERE xid >= %s) "
    "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8, "
    "(SELECT array_agg(track_id) FROM w), (SELECT array_agg(xid) FROM w)"
)
_TRACK_TRIPLETS_SQL = "SELECT hash FROM recognition_fingerprint WHERE track_id = ANY(%s::int8[])"
_HASH_COLUMN = np.dtype([("fields", ">i2"), ("length", ">i4"), ("hash", ">i4")])


class _TripletFilter:
    """Which triplet values may be stored in one database (see above)."""

    def __init__(self) -> None:
        self._bits = np.zeros(1 << (_FILTER_BITS - 3), np.uint8)
        self._horizon: int | None = None  # xmin of the snapshot last read; None: nothing loaded
        self._seen: set[tuple[int, int]] = set()  # (track, xid) writes already added
        self._lock = threading.Lock()

    def may_hold(self, hashes: np.ndarray) -> np.ndarray:
        buckets = (np.asarray(hashes, np.int64) & 0xFFFFFFFF) >> _FILTER_SHIFT
        return (self._bits[buckets >> 3] >> (buckets & 7).astype(np.uint8)) & 1 == 1

    def refresh(self, cursor) -> None:
        with self._lock:
            if self._horizon is None:
                cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8")
                horizon = cursor.fetchone()[0]
                self._add(cursor, "SELECT hash FROM recognition_fingerprint")
                self._horizon = horizon
                return
            cursor.execute(_NEW_WRITES_SQL, [self._horizon])
            horizon, tracks, xids = cursor.fetchone()
            new = [write for write in zip(tracks or [], xids or [], strict=True) if write not in self._seen]
            if new:
                ids = _array_literal(np.array([track for track, _ in new], np.int64))
                self._add(cursor, cursor.cursor.mogrify(_TRACK_TRIPLETS_SQL, [ids]).decode())
                self._seen.update(new)
            # Writes below the new horizon will never be listed again.
            self._seen = {write for write in self._seen if write[1] >= horizon}
            self._horizon = horizon

    def _add(self, cursor, select: str) -> None:
        buffer = io.BytesIO()
        cursor.cursor.copy_expert(f"COPY ({select}) TO STDOUT WITH (FORMAT binary)", buffer)
        hashes = np.frombuffer(_copy_body(buffer), dtype=_HASH_COLUMN)["hash"].astype(np.int64)
        buckets = (hashes & 0xFFFFFFFF) >> _FILTER_SHIFT
        np.bitwise_or.at(self._bits, buckets >> 3, np.left_shift(1, buckets & 7).astype(np.uint8))


_filters: dict[tuple[str, str], _TripletFilter] = {}
_filters_lock = threading.Lock()


def _triplet_filter(cursor) -> _TripletFilter:
    """This process's filter for the connection's database, brought up to date."""
    key = (connection.alias, str(connection.settings_dict["NAME"]))
    with _filters_lock:
        found = _filters.setdefault(key, _TripletFilter())
    found.refresh(cursor)
    return found


def forget_triplet_filters() -> None:
    """Drop this process's presence filters: the next lookup reloads them from the table (for
    rows written without write_track_hashes, as the growth benchmark's synthetic ones are)."""
    with _filters_lock:
        _filters.clear()


def _pair_rows(wanted: np.ndarray, track_ids: np.ndarray) -> LookupRows:
    """The tracks' pairs whose hash is in `wanted` (sorted): their lists, filtered by numpy."""
    with connection.cursor() as cursor:
        cursor.execute(_PAIR_LISTS_SQL, [_array_literal(track_ids)])
        lists = cursor.fetchall()
    if not lists:
        return _no_rows()
    unpacked = [unpack_pairs(packed) for _, packed in lists]
    hashes = np.concatenate([h for h, _ in unpacked])
    frames = np.concatenate([f for _, f in unpacked])
    owners = np.repeat([track_id for track_id, _ in lists], [h.size for h, _ in unpacked])
    kept = wanted[np.minimum(np.searchsorted(wanted, hashes), wanted.size - 1)] == hashes
    return LookupRows(
        hashes=hashes[kept].astype(np.int32),
        track_ids=owners[kept].astype(np.int64),
        offsets=frames[kept].astype(np.int32),
    )


# --- Frame sketches -------------------------------------------------------------------------------
# One little-endian uint16 a frame, out of line and uncompressed (migration 0007), so that
# substring() reads only the TOAST chunks of the slice asked for: a check reads a few hundred
# bytes of each track it looks at, however long the track.
_SKETCH_DTYPE = np.dtype("<u2")
# One row back for all slices: their request numbers, lengths and bytes end to end (a row per
# slice, and psycopg2's adaptation of Python lists, cost 8.7 ms of Python for the 273 slices of
# a 1 s clip, where the statement runs in 2 ms).
_SKETCH_SLICES_SQL = (
    "SELECT array_agg(h.row ORDER BY h.row), array_agg(octet_length(x.part) ORDER BY h.row), "
    "string_agg(x.part, ''::bytea ORDER BY h.row) "
    "FROM unnest(%s::int4[], %s::int8[], %s::int4[], %s::int4[]) AS h(row, track_id, first, frames) "
    "JOIN recognition_framesketch AS s ON s.track_id = h.track_id "
    "CROSS JOIN LATERAL (SELECT substring(s.frames FROM h.first * 2 + 1 FOR h.frames * 2) AS part) AS x"
)


def write_track_sketch(track_id: int, frames: np.ndarray) -> None:
    """Store a track's frame sketches in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recognition_framesketch (track_id, frames) VALUES (%s, %s)",
            [track_id, np.asarray(frames).astype(_SKETCH_DTYPE).tobytes()],
        )


def sketch_slices(track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Each track's sketches from its first frame on, `n_frames` of them, in one round trip:
    uint16 (tracks, n_frames), 0 where the track has no frame (before its start, past its end,
    no sketch stored)."""
    first = np.asarray(first_frames, np.int64)
    out = np.zeros((first.size, n_frames), np.uint16)
    skip = np.clip(-first, 0, n_frames)  # frames before the track's start
    wanted = np.flatnonzero(skip < n_frames)
    if wanted.size == 0:
        return out
    with connection.cursor() as cursor:
        cursor.execute(
            _SKETCH_SLICES_SQL,
            [
                _array_literal(wanted),
                _array_literal(np.asarray(track_ids, np.int64)[wanted]),
                _array_literal(first[wanted] + skip[wanted]),
                _array_literal(n_frames - skip[wanted]),
            ],
        )
        rows, lengths, data = cursor.fetchone()
    if not rows:
        return out
    frames = np.frombuffer(bytes(data), _SKETCH_DTYPE)
    ends = np.cumsum(np.asarray(lengths, np.int64) // 2)
    for row, end, count in zip(rows, ends.tolist(), (np.asarray(lengths) // 2).tolist(), strict=True):
        out[row, skip[row] : skip[row] + count] = frames[end - count : end]
    return out


def delete_track_hashes(track_id: int) -> int:
    """Delete a track's hashes in one statement per layout, and its sketches (a replaced
    reference; deleting the track itself cascades in PostgreSQL); return how many hashes there
    were."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM recognition_framesketch WHERE track_id = %s", [track_id])
        cursor.execute("DELETE FROM recognition_fingerprint WHERE track_id = %s", [track_id])
        deleted = cursor.rowcount
        cursor.execute(
            "DELETE FROM recognition_pairlist WHERE track_id = %s RETURNING octet_length(packed)", [track_id]
        )
        return deleted + sum(length // _PACKED_PAIR.itemsize for (length,) in cursor.fetchall())


# Tracks whose hash_count differs from the hashes stored for them (triplet rows plus packed
# pairs). An ingest cut short would leave one, so there must be none: the store tests and the
# fault trials (bench/faults.py) check it with this statement; scripts/lib/catalog_counts.sh,
# which runs with psql alone, spells the same count for backups.
PARTIAL_TRACKS_SQL = (
    "SELECT t.id, t.hash_count, coalesce(f.n, 0) + coalesce(octet_length(p.packed) / 8, 0) AS stored "
    "FROM catalog_track AS t "
    "LEFT JOIN (SELECT track_id, count(*) AS n FROM recognition_fingerprint GROUP BY track_id) AS f "
    "ON f.track_id = t.id LEFT JOIN recognition_pairlist AS p ON p.track_id = t.id "
    "WHERE t.hash_count <> coalesce(f.n, 0) + coalesce(octet_length(p.packed) / 8, 0)"
)


def partial_tracks() -> list[tuple[int, int, int]]:
    """(track, hash_count, hashes stored) of every track whose two counts differ."""
    with connection.cursor() as cursor:
        cursor.execute(PARTIAL_TRACKS_SQL)
        return [tuple(row) for row in cursor.fetchall()]


def count_track_rows(track_id: int) -> int:
    """Hashes stored for a track, of both kinds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM recognition_fingerprint WHERE track_id = %s) + "
            "COALESCE((SELECT octet_length(packed) / 8 FROM recognition_pairlist WHERE track_id = %s), 0)",
            [track_id, track_id],
        )
        return int(cursor.fetchone()[0])


def table_size() -> dict[str, int]:
    """Hashes stored (triplet rows: the planner's estimate when large) and bytes on disk of the
    hash tables and the sketches, indexes and out-of-line values included."""
    sizes = {}
    with connection.cursor() as cursor:
        for table in (TABLE, PAIR_TABLE, SKETCH_TABLE):
            cursor.execute(
                "SELECT pg_total_relation_size(%s::regclass), pg_indexes_size(%s::regclass), "
                "(SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass)",
                [table] * 3,
            )
            sizes[table] = cursor.fetchone()
        triplets = sizes[TABLE][2]
        if triplets is None or triplets < 1_000_000:
            cursor.execute("SELECT count(*) FROM recognition_fingerprint")
            triplets = cursor.fetchone()[0]
        cursor.execute("SELECT COALESCE(sum(octet_length(packed)) / 8, 0) FROM recognition_pairlist")
        pairs = int(cursor.fetchone()[0])
    total = sum(size[0] for size in sizes.values())
    indexes = sum(size[1] for size in sizes.values())
    return {
        "rows": int(triplets) + pairs,
        "triplet_rows": int(triplets),
        "pairs": pairs,
        "total_bytes": int(total),
        "heap_bytes": int(total - indexes),  # with the pair lists' out-of-line (TOAST) values
        "index_bytes": int(indexes),
        "sketch_bytes": int(sizes[SKETCH_TABLE][0]),
    }
