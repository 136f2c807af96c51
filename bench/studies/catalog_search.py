"""Catalog search at 10^6 tracks: a leading wildcard with and without the trigram indexes.

    .venv/bin/python -m bench.studies.catalog_search [--tracks 1000000]

Fills a scratch database (earshot_search_study, dropped at the end) with N tracks and N/10
artists through SQL, then times the statement the partner API's search runs (`track_search`,
first page of 50 plus the paginator's count) for a rare word, a common word and an ISRC-like
fragment: EXPLAIN ANALYZE, 5 runs each, median, first without the catalog 0002 indexes, then
with them (and how long building them took). Writes bench/results/studies/catalog_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench import ROOT, STUDY_RESULTS

NAME = "earshot_search_study"
WORDS = ("night", "drive", "morning", "walk", "river", "light", "fire", "dance", "summer", "blue", "heart", "road")
QUERIES = {"rare word (1 track)": "zephyrine", "common word (~8 %)": "river", "fragment inside a word": "ornin"}
INDEXES = {
    "track_title_trgm": "CREATE INDEX track_title_trgm ON catalog_track USING gin (UPPER(title) gin_trgm_ops)",
    "artist_name_trgm": "CREATE INDEX artist_name_trgm ON catalog_artist USING gin (UPPER(name) gin_trgm_ops)",
}


def admin(statement: str) -> None:
    subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", statement, "postgres"], check=True)


def fill(cursor, tracks: int) -> None:
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    cursor.execute("INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, "
                   "is_staff, is_active, date_joined, role) VALUES ('!', false, 'study-holder', '', '', '', true, "
                   "true, now(), 'rights_holder') RETURNING id")  # fmt: skip
    owner = cursor.fetchone()[0]
    cursor.execute(
        "INSERT INTO catalog_artist (name, owner_id, created_at, updated_at) "  # noqa: S608 - constant WORDS
        f"SELECT initcap(({words})[1 + mod(i, 12)]) || ' Band ' || i, %s, now(), now() "
        "FROM generate_series(1, %s) AS i",
        [owner, tracks // 10],
    )
    cursor.execute(
        "INSERT INTO catalog_track (title, owner_id, created_at, updated_at, isrc, audio, fingerprint_status, "  # noqa: S608
        "fingerprint_error, hash_count, artwork, links, preview, preview_allowed) "
        f"SELECT initcap(({words})[1 + mod(i, 12)] || ' ' || ({words})[1 + mod(i / 12, 12)]) || ' ' || i, %s, now(), "
        "now(), '', '', 'ready', '', 0, '', '{}', '', false FROM generate_series(1, %s) AS i",
        [owner, tracks],
    )
    cursor.execute("UPDATE catalog_track SET title = 'Zephyrine' WHERE id = (SELECT max(id) FROM catalog_track)")
    cursor.execute(
        "INSERT INTO catalog_track_artists (track_id, artist_id) SELECT t.id, a.id FROM catalog_track t "
        "JOIN catalog_artist a ON a.id = 1 + mod(t.id, %s)",
        [tracks // 10],
    )
    cursor.execute("ANALYZE")


def measure(cursor, words: str) -> dict:
    from catalog.selectors import track_search

    queryset = track_search(words=words)
    page_sql, page_params = queryset[:50].query.sql_with_params()
    count_sql, count_params = queryset.values("pk").query.sql_with_params()
    result = {}
    for label, sql, params in (
        ("page", page_sql, page_params),
        ("count", f"SELECT count(*) FROM ({count_sql}) q", count_params),  # noqa: S608 - the ORM's SQL
    ):
        times = []
        for _ in range(5):
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            times.append(cursor.fetchone()[0][0]["Execution Time"])
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        result[label] = {"median_ms": round(statistics.median(times), 1), "uses_trigram_index": "_trgm" in plan}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    arguments = parser.parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    admin(f"CREATE DATABASE {NAME}")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)
        import django

        django.setup()
        from django.db import connection

        with connection.cursor() as cursor:
            for name in INDEXES:
                cursor.execute(f"DROP INDEX {name}")
            started = time.monotonic()
            fill(cursor, arguments.tracks)
            print(f"filled {arguments.tracks} tracks in {time.monotonic() - started:.0f} s", file=sys.stderr)
            without = {label: measure(cursor, words) for label, words in QUERIES.items()}
            started = time.monotonic()
            for statement in INDEXES.values():
                cursor.execute(statement)
            build_s = time.monotonic() - started
            cursor.execute("ANALYZE")
            with_index = {label: measure(cursor, words) for label, words in QUERIES.items()}
            cursor.execute("SELECT pg_relation_size('track_title_trgm') + pg_relation_size('artist_name_trgm')")
            index_bytes = cursor.fetchone()[0]
        connection.close()
    finally:
        admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    result = {
        "tracks": arguments.tracks,
        "artists": arguments.tracks // 10,
        "without_index": without,
        "with_index": with_index,
        "index_build_s": round(build_s, 1),
        "index_bytes": index_bytes,
    }
    STUDY_RESULTS.mkdir(parents=True, exist_ok=True)
    (STUDY_RESULTS / "catalog_search.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
