"""How much the store holds: per track (a check that no ingest was cut short) and on disk."""

from __future__ import annotations

from django.db import connection

from recognition.store.pairs import PAIR_TABLE
from recognition.store.sketches import SKETCH_TABLE
from recognition.store.triplets import TABLE

__all__ = ["PARTIAL_TRACKS_SQL", "count_track_rows", "partial_tracks", "table_size"]

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
