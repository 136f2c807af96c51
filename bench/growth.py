"""Query latency against catalog size: the benchmark catalog grown with synthetic tracks.

    .venv/bin/python -m bench.growth [--sizes 1e6 3e6 1e7 3e7 1e8 3e8] [--queries 200] [--keep]
                                     [--triplets recombined|pool] [--row-caps ROWS...]
                                     [--retry-fan-outs TARGETS...] [--jit on off] [--wide on off] [--resume]
                                     [--code NAME] [--results FILE.json]

Sizes count stored hashes (triplet rows + packed pairs, 38.4 per second of audio: 10^8 is 723
hours). Copies the benchmark database (earshot_bench, after bench/run.py) into earshot_growth,
then grows it step by step with synthetic tracks of ~3 minutes whose triplet rows and pairs draw
their hashes from the real ones (pairs whole; triplets, by default, recombined from parts of real
ones: TRIPLET_MASKS) at random offsets, with frame sketches of random bits. At each size it
times the same real queries (engine + database, decoded audio in memory) and checks they are
still answered right and that unknown clips still come back as no match, and times deleting a
track of 1M hashes through the service (G12). Indexes are rebuilt after each bulk load (as a
bulk import would); the table is vacuumed so lookups are index-only, as in steady state.
Results: bench/results/growth.json and growth.png.

Stops early, saying so, when the disk would fall under 10 GB free.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg2

from bench import OUT, RESULTS, corpus
from bench.report import growth_plot

SOURCE_DB, DB = "earshot_bench", "earshot_growth"
TRIPLETS_PER_TRACK = 2300  # ~3 minutes at 12.8 triplets/s
PAIRS_PER_TRACK = 4600  # and 25.6 pairs/s
SECONDS_PER_TRACK = (TRIPLETS_PER_TRACK + PAIRS_PER_TRACK) / 38.4
FRAMES_PER_TRACK = int(SECONDS_PER_TRACK * 31.25)  # 31.25 frames a second
WARM_TABLES = ["recognition_fingerprint", "recognition_pairlist", "recognition_framesketch"]
BYTES_PER_HASH_ESTIMATE = 50  # a triplet row with its indexes and rebuild headroom ~120, a pair ~8


def admin():
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    connection.autocommit = True
    return connection


def clone() -> None:
    """Copy the benchmark database through pg_dump: unlike TEMPLATE, it works while others use it."""
    connection = admin()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DB}")
    connection.close()
    dump = subprocess.Popen(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc", SOURCE_DB], stdout=subprocess.PIPE)
    subprocess.run(
        ["pg_restore", "-h", "127.0.0.1", "-U", "postgres", "--no-owner", "-d", DB], stdin=dump.stdout, check=True
    )
    if dump.wait() != 0:
        raise SystemExit(f"pg_dump of {SOURCE_DB} failed")


def stored(cursor) -> tuple[int, int]:
    """(triplet rows, packed pairs)."""
    cursor.execute(
        "SELECT (SELECT count(*) FROM recognition_fingerprint), "
        "(SELECT COALESCE(sum(octet_length(packed)) / 8, 0) FROM recognition_pairlist)"
    )
    triplets, pairs = cursor.fetchone()
    return int(triplets), int(pairs)


# How a synthetic triplet is drawn from the real ones. "recombined": the anchor bin (top 8 bits)
# of one real triplet with the shape (two frequency steps, two time steps) of another, so that,
# as more real music would, new tracks bring new values (~4*10^7 possible) that still follow the
# real distributions of each part. "pool": whole real values, so the ~190,000 values of the
# benchmark's music are shared by every synthetic track (~500 rows each at 10^8 rows: pessimistic
# for the rows a probe reads, and flattering for the presence filter, which then stays sparse).
TRIPLET_MASKS = {
    "recombined": {"anchor": -(1 << 24), "shape": (1 << 24) - 1},
    "pool": {"anchor": -1, "shape": 0},
}


def grow_to(target_hashes: int, triplets: str) -> dict:
    """Add synthetic tracks until the catalog stores `target_hashes`; rebuild the indexes."""
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB)
    connection.autocommit = True
    with connection.cursor() as cursor:
        have = sum(stored(cursor))
        missing = target_hashes - have
        if missing <= 0:
            return {"rows": have, "added": 0, "load_s": 0.0}
        started = time.perf_counter()
        tracks = -(-missing // (TRIPLETS_PER_TRACK + PAIRS_PER_TRACK))
        cursor.execute("SELECT id FROM accounts_user ORDER BY id LIMIT 1")
        owner = cursor.fetchone()[0]
        cursor.execute(
            """
            CREATE TEMP TABLE new_tracks AS
            WITH inserted AS (
              INSERT INTO catalog_track (title, isrc, duration_s, audio, sha256, fingerprint_status,
                                         fingerprint_error, hash_count, owner_id, created_at, updated_at,
                                         artwork, links, preview, preview_allowed)
              SELECT 'synthetic ' || g, '', %(seconds)s, '', NULL, 'ready', '', %(rows)s, %(owner)s, now(), now(),
                     '', '{}', '', false
              FROM generate_series(1, %(tracks)s) AS g
              RETURNING id)
            SELECT id, row_number() OVER (ORDER BY id) AS n FROM inserted
        """,
            {
                "seconds": SECONDS_PER_TRACK,
                "rows": TRIPLETS_PER_TRACK + PAIRS_PER_TRACK,
                "owner": owner,
                "tracks": tracks,
            },
        )
        add_pair_lists(cursor)
        add_sketches(cursor)
        # Every real row (synthetic tracks have no SHA-256), so synthetic rows use as many
        # distinct values as the real music does. An earlier 10 % sample of the whole table
        # kept only ~1 in 10 of the rare values (most triplets are rare) and, from the second
        # step on, sampled synthetic rows too: it crowded the hash space, pessimistically.
        cursor.execute(
            "CREATE TEMP TABLE pool AS SELECT row_number() OVER () AS n, f.hash FROM recognition_fingerprint AS f "
            "JOIN catalog_track AS t ON t.id = f.track_id WHERE t.sha256 IS NOT NULL"
        )
        cursor.execute("SELECT count(*) FROM pool")
        pool_size = cursor.fetchone()[0]
        cursor.execute("ALTER TABLE recognition_fingerprint DROP CONSTRAINT recognition_fingerprint_track_fk")
        cursor.execute("ALTER TABLE recognition_fingerprint DROP CONSTRAINT recognition_fingerprint_pkey")
        cursor.execute("DROP INDEX recognition_fingerprint_track_id_9124e06a")
        # Each synthetic row draws its own pool rows and offset (random() in the subquery's select
        # list runs once per row). The growth figures before 2026-11-25's last run drew them in a
        # LATERAL subquery that did not refer to the track, which PostgreSQL ran once per step:
        # every track of a step had the same triplets at the same offsets (at 10^8 rows, ~4,600
        # values held 90 % of the rows, ~29,000 each).
        # Written track by track, as ingest's COPY writes each track's rows together: a lookup in
        # named tracks (the smoothed retry's) reads them through the track_id index. Written in
        # hash order, as before, each synthetic track's rows sat on as many heap pages as it has
        # rows, and that read grew with the table (5 s unknown clips at 10^8 triplet rows: a
        # median of 23 ms and a p95 of 108 ms for ~10 rows).
        cursor.execute(
            """
            INSERT INTO recognition_fingerprint (hash, offset_frames, track_id)
            SELECT h, o, id FROM (
              SELECT DISTINCT ON (h, r.o, r.id) (a.hash & %(anchor)s) | (b.hash & %(shape)s) AS h, r.o, r.id
              FROM (SELECT t.id, 1 + floor(random() * %(pool)s)::int AS i, 1 + floor(random() * %(pool)s)::int AS j,
                           floor(random() * %(frames)s)::int AS o
                    FROM new_tracks AS t, generate_series(1, %(rows)s)) AS r
              JOIN pool AS a ON a.n = r.i JOIN pool AS b ON b.n = r.j) AS rows
            ORDER BY id, o
        """,
            {
                "frames": FRAMES_PER_TRACK,
                "rows": TRIPLETS_PER_TRACK,
                "pool": pool_size,
                **TRIPLET_MASKS[triplets],
            },
        )
        cursor.execute(
            "UPDATE catalog_track AS t SET hash_count = c.n + octet_length(p.packed) / 8 FROM (SELECT track_id, "
            "count(*) AS n FROM recognition_fingerprint WHERE track_id IN (SELECT id FROM new_tracks) "
            "GROUP BY track_id) AS c, recognition_pairlist AS p WHERE c.track_id = t.id AND p.track_id = t.id"
        )
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute(
            "ALTER TABLE recognition_fingerprint ADD CONSTRAINT recognition_fingerprint_pkey "
            "PRIMARY KEY (hash, offset_frames, track_id)"
        )
        cursor.execute("CREATE INDEX recognition_fingerprint_track_id_9124e06a ON recognition_fingerprint (track_id)")
        cursor.execute(
            "ALTER TABLE recognition_fingerprint ADD CONSTRAINT recognition_fingerprint_track_fk "
            "FOREIGN KEY (track_id) REFERENCES catalog_track (id) ON DELETE CASCADE "
            "DEFERRABLE INITIALLY DEFERRED"
        )
        cursor.execute("VACUUM ANALYZE recognition_fingerprint")
        cursor.execute("VACUUM ANALYZE recognition_pairlist")
        triplets, pairs = stored(cursor)
        cursor.execute(
            "SELECT pg_total_relation_size('recognition_fingerprint') + pg_total_relation_size('recognition_pairlist')"
        )
        size = cursor.fetchone()[0]
    connection.close()
    return {
        "rows": triplets + pairs,
        "triplet_rows": triplets,
        "pairs": pairs,
        "added": triplets + pairs - have,
        "load_s": round(time.perf_counter() - started, 1),
        "bytes": size,
    }


def add_pair_lists(cursor) -> None:
    """Give each new track a pair list drawn from the real tracks' pairs, written with COPY."""
    import numpy as np

    from recognition import store

    cursor.execute(
        "SELECT p.packed FROM recognition_pairlist AS p JOIN catalog_track AS t ON t.id = p.track_id "
        "WHERE t.sha256 IS NOT NULL"
    )
    pool = np.concatenate([store.unpack_pairs(packed)[0] for (packed,) in cursor.fetchall()])
    _copy_per_new_track(
        cursor,
        "recognition_pairlist (track_id, packed)",
        lambda rng: store.pack_pairs(
            rng.choice(pool, PAIRS_PER_TRACK), rng.integers(0, FRAMES_PER_TRACK, PAIRS_PER_TRACK)
        ),
        seed_offset=0,
    )


def add_sketches(cursor) -> None:
    """Give each new track frame sketches (random bits: a synthetic track is unrelated music),
    written with COPY into the same out-of-line column, so a proposal on a synthetic track costs
    the slice read a real one does."""
    import numpy as np

    _copy_per_new_track(
        cursor,
        "recognition_framesketch (track_id, frames)",
        lambda rng: rng.integers(0, 1 << 16, FRAMES_PER_TRACK, dtype=np.uint16).astype("<u2").tobytes(),
        seed_offset=1,
    )


def _copy_per_new_track(cursor, table_columns: str, value: Callable, *, seed_offset: int) -> None:
    """COPY one (track_id, bytea) row per new track, `value(rng)` making each track's bytes, 2,000
    tracks a statement; the generator is seeded by the number of new tracks (+ `seed_offset`)."""
    import numpy as np

    from recognition import store

    cursor.execute("SELECT id FROM new_tracks ORDER BY id")
    track_ids = [track_id for (track_id,) in cursor.fetchall()]
    rng = np.random.default_rng(len(track_ids) + seed_offset)
    for start in range(0, len(track_ids), 2000):
        rows = []
        for track_id in track_ids[start : start + 2000]:
            data = value(rng)
            rows.append(struct.pack(">hiqi", 2, 8, track_id, len(data)) + data)
        payload = store.copy_payload(b"".join(rows))
        cursor.copy_expert(f"COPY {table_columns} FROM STDIN WITH (FORMAT binary)", payload)


def measure(
    queries: list,
    truth: dict,
    count: int,
    row_cap: int | None = None,
    retry_fan_out: int | None = None,
    wide: bool | None = None,
) -> dict:
    """Engine + database latency of real queries, and whether answers stay right; with
    `row_cap`, under that cap on the rows read per triplet value instead of the engine's; with
    `retry_fan_out`, speed retries take their triplets from that many nearest targets; with
    `wide`, the wide retries (speed, pitch, tempo) on or off whatever the engine's default."""
    from recognition import selectors, store
    from recognition.engine.identify import retries
    from recognition.services import identifier

    selectors.forget_track_frames()
    engine = identifier()
    if row_cap is not None:
        engine = replace(engine, index=store.PostgresIndex(row_cap=row_cap))
    if retry_fan_out is not None:
        engine = replace(engine, retry_triplet_fan_out=retry_fan_out)
    if wide is not None:
        engine = replace(engine, wide_variants=retries.WIDE_VARIANTS if wide else ())
    latencies, right, wrong, unknown_matched, unknown = [], 0, 0, 0, 0
    ticks = cpu_ticks()
    for query, samples in queries[: count * 2]:
        started = time.perf_counter()
        match = engine.identify(samples)
        latencies.append((time.perf_counter() - started) * 1000)
        if query["kind"] == "known":
            if match and truth.get(match.track_id) == query["source"]:
                right += 1
            elif match:
                wrong += 1
        else:
            unknown += 1
            unknown_matched += match is not None
    known = sum(1 for q, _ in queries[: count * 2] if q["kind"] == "known")
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(ordered[round(0.95 * (len(ordered) - 1))], 1),
        "accuracy_pct": round(100 * right / max(known, 1), 1),
        "wrong": wrong,
        "unknown_false_matches": f"{unknown_matched}/{unknown}",
        "iowait_pct": iowait_pct(ticks, cpu_ticks()),
    }


def measure_with_jit(setting: str, queries: list, truth: dict, count: int) -> dict:
    """`measure` with the session's JIT on or off (portal/settings.py turns it off)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', %s, false)", [setting])
    try:
        return measure(queries, truth, count)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET jit")  # the session's own setting


def interleaved(settings: list, timed: Callable) -> dict:
    """`timed` at each setting, interleaved in two rounds (the machine drifts): each round's
    p50 and p95, and the answers, by setting."""
    rounds: dict[str, list[dict]] = {str(setting): [] for setting in settings}
    for _ in range(2):
        for setting in settings:
            rounds[str(setting)].append(timed(setting))
    return rounds


def prewarm() -> tuple[float, str]:
    """Read the hash tables and their indexes (pair lists and sketches: their out-of-line
    values) into memory, and return the seconds it took and where they went. A bulk load
    and an index rebuild leave most of them on disk, where a running server has them in
    memory: without this, the first 3 x 10^8 point of 2026-12-02's evening run was timed while
    tasks stalled on I/O ~25 % of the time (185 / 406 ms p50 / p95; 120 / 266 ms warm).
    Into the server's own buffers when they hold all of it (`buffer`), else into the operating
    system's cache (`read`), which a host that reclaims memory on its own (DAMON page-out) may
    take back during the timing; the buffers are shared memory, which without swap it cannot."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cursor.execute(
            "WITH heap AS (SELECT oid FROM pg_class WHERE oid = ANY(%s::regclass[]) "
            "UNION SELECT reltoastrelid FROM pg_class WHERE oid = ANY(%s::regclass[]) AND reltoastrelid <> 0), "
            "rel AS (SELECT oid FROM heap "
            "UNION SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT oid FROM heap)), "
            # into the buffers only with room left for the catalog's other tables
            "mode AS (SELECT CASE WHEN sum(pg_relation_size(oid)) < 0.9 * 8192 * "
            "(SELECT setting::bigint FROM pg_settings WHERE name = 'shared_buffers') "
            "THEN 'buffer' ELSE 'read' END AS name FROM rel) "
            "SELECT sum(pg_prewarm(rel.oid::regclass, mode.name)), mode.name FROM rel, mode GROUP BY mode.name",
            [WARM_TABLES, WARM_TABLES],
        )
        mode = cursor.fetchone()[1]
    return round(time.perf_counter() - started, 1), mode


def cpu_ticks() -> list[int]:
    """The machine's CPU time by state since boot (/proc/stat's first line, in clock ticks)."""
    with open("/proc/stat") as stat:
        return [int(value) for value in stat.readline().split()[1:]]


def iowait_pct(before: list[int], after: list[int]) -> float:
    """Share of the machine's CPU time spent waiting on the disk between two `cpu_ticks`: a
    timing whose tables were taken out of memory under it shows here."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return round(100 * spent[4] / max(sum(spent), 1), 1)


def load_triplet_filter() -> float:
    """Seconds a process takes to load its presence filter from the whole table: the synthetic
    rows were written in SQL, which the filter does not hear of, so it starts again."""
    import numpy as np

    from recognition import store

    store.forget_triplet_filters()
    started = time.perf_counter()
    store.lookup(np.array([-1]))
    return round(time.perf_counter() - started, 1)


def cascade_delete_s(rows: int = 1_000_000) -> float:
    """Seconds to delete one track of `rows` hashes through the service (G12), on this table."""
    from catalog.models import Track
    from catalog.services import tracks_delete

    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=DB)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM accounts_user ORDER BY id LIMIT 1")
        owner = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO catalog_track (title, isrc, duration_s, audio, sha256, fingerprint_status, "
            "fingerprint_error, hash_count, owner_id, created_at, updated_at, artwork, links, preview, "
            "preview_allowed) VALUES ('cascade probe', '', 0, '', NULL, 'ready', '', %s, %s, now(), now(), "
            "'', '{}', '', false) RETURNING id",
            [rows, owner],
        )
        track_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO recognition_fingerprint (hash, offset_frames, track_id) "
            "SELECT (random() * 2097151)::int, g, %s FROM generate_series(1, %s) AS g",
            [track_id, rows],
        )
    connection.close()
    started = time.perf_counter()
    tracks_delete(tracks=Track.objects.filter(pk=track_id))
    return round(time.perf_counter() - started, 2)


def open_database(name: str) -> None:
    """Set Django up on one local database: the grown catalog here and in the studies on it."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def load_queries(count: int) -> tuple[list, dict]:
    from catalog.models import Track
    from recognition.engine import audio

    listing = json.loads((OUT / "queries" / "queries.json").read_text())["queries"]
    known = [q for q in listing if q["kind"] == "known" and q["length_s"] == 5 and q["condition"] == "clean"][:count]
    unknown = [q for q in listing if q["kind"] == "foreign" and q["length_s"] == 5][:count]
    mixed = [q for pair in zip(known, unknown, strict=False) for q in pair]
    decoded = [(q, audio.decode(q["path"], sample_rate_hz=8000, max_seconds=30)) for q in mixed]
    manifest = corpus.load_or_build(OUT / "corpus.json")
    path_of = {item["sha256"]: item["path"] for item in manifest["indexed"]}
    truth = {track_id: path_of.get(digest) for track_id, digest in Track.objects.values_list("id", "sha256")}
    return decoded, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 3e6, 1e7, 3e7, 1e8, 3e8])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--keep", action="store_true", help="keep earlier points of growth.json at sizes this run does not measure"
    )
    parser.add_argument(
        "--triplets", choices=sorted(TRIPLET_MASKS), default="recombined", help="how synthetic triplets are drawn"
    )
    parser.add_argument(
        "--row-caps",
        type=int,
        nargs="*",
        default=[],
        metavar="ROWS",
        help="also time each size with these caps on the rows read per triplet value, interleaved in two rounds",
    )
    parser.add_argument(
        "--retry-fan-outs",
        type=int,
        nargs="*",
        default=[],
        metavar="TARGETS",
        help="also time each size with speed retries at these triplet fan-outs, interleaved in two rounds",
    )
    parser.add_argument(
        "--jit",
        nargs="*",
        default=[],
        choices=["on", "off"],
        help="also time each size with PostgreSQL's JIT on and/or off (the portal runs without), interleaved",
    )
    parser.add_argument(
        "--wide",
        nargs="*",
        default=[],
        choices=["on", "off"],
        help="also time each size with the wide retries (speed, pitch, tempo) on and/or off, interleaved",
    )
    parser.add_argument(
        "--resume", action="store_true", help="go on growing the earlier run's earshot_growth instead of a new copy"
    )
    parser.add_argument(
        "--code",
        help="a name for the engine measured (its commit, what it changed), kept with each point: --keep keeps "
        "earlier points of another name at the same sizes, so runs of two versions share a file",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS / "growth.json",
        help="where to write (and --keep from); a trial or one side of an A/B goes to bench/results/studies/",
    )
    args = parser.parse_args()
    results = args.results
    earlier = json.loads(results.read_text()) if args.keep and results.exists() else []
    if not args.resume:
        clone()
    open_database(DB)
    from django.db import connection

    from recognition.engine.identify import RETRY_TRIPLET_FAN_OUT, retries
    from recognition.services import identifier

    queries, truth = load_queries(args.queries)
    points = []
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE recognition_fingerprint")
        real_hashes = sum(stored(cursor.cursor))
    sizes = [int(s) for s in args.sizes]
    for target in sizes if args.resume else [real_hashes, *sizes]:
        free = shutil.disk_usage("/var/lib/postgresql").free
        if (target - real_hashes) * BYTES_PER_HASH_ESTIMATE > free - 10e9:
            print(f"stopping before {target:.0e} hashes: {free / 1e9:.0f} GB free", flush=True)
            break
        connection.close()
        grown = grow_to(target, args.triplets)
        filter_load_s = load_triplet_filter()
        prewarm_s, prewarm_mode = prewarm()
        measure(queries, truth, 10)  # warm the buffer cache, as a running server's would be
        with connection.cursor() as cursor:
            cursor.execute("SHOW shared_buffers")  # how much of the key the server itself caches
            shared_buffers = cursor.fetchone()[0]
            cursor.execute("SHOW jit")  # the setting of the main measure
            jit = cursor.fetchone()[0]
        point = {
            "when": time.strftime("%Y-%m-%d %H:%M"),  # --keep merges points of several runs
            **grown,
            "triplets": args.triplets,
            "shared_buffers": shared_buffers,
            "jit": jit,
            "retry_triplet_fan_out": RETRY_TRIPLET_FAN_OUT,  # the engine's, in the main measure
            "wide_retries": len(retries.WIDE_VARIANTS if identifier().wide_variants else ()),  # ... and its wide tier
            "filter_load_s": filter_load_s,
            "prewarm_s": prewarm_s,
            "prewarm": prewarm_mode,
            **measure(queries, truth, args.queries),
        }
        if args.row_caps:
            point["row_caps"] = interleaved(
                args.row_caps, lambda cap: measure(queries, truth, args.queries, row_cap=cap)
            )
        if args.retry_fan_outs:
            point["retry_fan_outs"] = interleaved(
                args.retry_fan_outs, lambda targets: measure(queries, truth, args.queries, retry_fan_out=targets)
            )
        if args.wide:
            point["wide_ab"] = interleaved(
                args.wide, lambda setting: measure(queries, truth, args.queries, wide=setting == "on")
            )
        if args.jit:
            point["jit_ab"] = interleaved(
                args.jit, lambda setting: measure_with_jit(setting, queries, truth, args.queries)
            )
        point["delete_1m_hashes_s"] = cascade_delete_s()
        if args.code:
            point["code"] = args.code
        points.append(point)
        print(point, flush=True)
        results.parent.mkdir(exist_ok=True)
        results.write_text(json.dumps(_merged(earlier, points), indent=1))
    growth_plot(_merged(earlier, points), results.with_suffix(".png"))


def _merged(earlier: list[dict], points: list[dict]) -> list[dict]:
    """This run's points, plus earlier ones at sizes it did not reach (within 10 %) or of another
    engine (`code`), by size."""
    kept = [
        e
        for e in earlier
        if all(abs(e["rows"] - p["rows"]) > 0.1 * p["rows"] or e.get("code") != p.get("code") for p in points)
    ]
    return sorted(kept + points, key=lambda p: p["rows"])


if __name__ == "__main__":
    main()
