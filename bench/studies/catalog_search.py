"""Catalog search at 10^6 tracks: a leading wildcard without and with the trigram indexes, then
the capped count and the ordered walk of catalog.selectors.TrackSearch beside the search they replace.

    .venv/bin/python -m bench.studies.catalog_search [--tracks 1000000] [--keep]

Fills a scratch database (earshot_search_study) with N tracks and N/10 artists through SQL; with
`--keep` it stays for the next run, which reuses it when it holds N tracks (the fill of 10^6 takes
a minute and a half), else it is dropped at the end. Three schemas, one after the other:

1. without the catalog 0002 indexes, 2. with them (the schema before catalog 0005): the statement
   `track_search` runs for the partner API's first page of 50 and for the paginator's count,
   EXPLAIN ANALYZE, 5 runs each, median;
3. with catalog 0005's title order as well, for words across the range of shares: the first page,
   page 20, the count, and both as one request reads them, through Python (wall time, 11 runs
   each after one, median), before (`track_search`, Django's Paginator) and after
   (`catalog.selectors.TrackSearch`, the capped paginator); PostgreSQL's estimate of the share
   against the true one, the plan each page takes, and for a walked word what a row walked costs
   against an id collected (the calibration of WALK_COST_RATIO).

Writes bench/results/catalog_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from bench import RESULTS, ROOT

NAME = "earshot_search_study"
RESULTS_FILE = RESULTS / "catalog_search.json"  # docs/decisions.md quotes it through `make report`
WORDS = ("night", "drive", "morning", "walk", "river", "light", "fire", "dance", "summer", "blue", "heart", "road")
QUERIES = {"rare word (1 track)": "zephyrine", "common word (~24 %)": "river", "fragment inside a word": "ornin"}
# Words across the range of shares, for the plan choice: the numbers in titles ("… 4242") and
# artists' names ("… Band 123") make rarer fragments than the twelve words.
SHARES = {
    "rare word (1 track)": "zephyrine",
    "number (~0.05 %)": "4242",
    "number (~0.7 %)": "123",
    "common word (~24 %)": "river",
    "fragment inside a word": "ornin",
}
INDEXES = {
    "track_title_trgm": "CREATE INDEX track_title_trgm ON catalog_track USING gin (UPPER(title) gin_trgm_ops)",
    "artist_name_trgm": "CREATE INDEX artist_name_trgm ON catalog_artist USING gin (UPPER(name) gin_trgm_ops)",
}
ORDER_INDEX = "track_title_order"
PAGE = 50
RUNS = 11  # the machine is shared: a rare word's few ms need more runs than a common word's second
DEEP_PAGE = 20


def admin(statement: str) -> str:
    done = subprocess.run(
        ["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", "-c", statement, "postgres"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


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
    page_sql, page_params = queryset[:PAGE].query.sql_with_params()
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


def timed(read) -> float:
    """The median wall time of `read()` over RUNS runs, in ms (after one run that warms the cache)."""
    read()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def rows_walked(cursor, search) -> int:
    """The tracks the walk reads in title order for the first page (EXPLAIN ANALYZE of its query)."""
    sql, params = search._matching(search._listed).order_by("title", "id")[: PAGE + 1].query.sql_with_params()
    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
    nodes = [cursor.fetchone()[0][0]["Plan"]]
    while nodes:
        node = nodes.pop()
        if node.get("Index Name") == ORDER_INDEX:
            return node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        nodes += node.get("Plans", [])
    raise RuntimeError("the walk did not read the title order")


def compare(cursor, words: str, tracks: int) -> dict:
    """Before and after, as the partner API reads them: the first page, page DEEP_PAGE, the count,
    and a whole request (count and first page, as the paginator reads them)."""
    from django.core.paginator import Paginator
    from django.test import override_settings

    from catalog.selectors import TrackSearch, track_search
    from portal.pagination import CappedCountPaginator

    deep = slice((DEEP_PAGE - 1) * PAGE, DEEP_PAGE * PAGE)
    matches = track_search(words=words).count()
    search = TrackSearch(words=words)
    result = {
        "words": words,
        "share": round(matches / tracks, 5),
        "estimated_share": round(search.share(), 5),
        "estimate_ms": timed(lambda: TrackSearch(words=words).share()),
        "plan": {"page 1": search.plan(0, PAGE + 1), f"page {DEEP_PAGE}": search.plan(deep.start, deep.stop + 1)},
        "before": {
            "page_ms": timed(lambda: list(track_search(words=words)[:PAGE])),
            "deep_page_ms": timed(lambda: list(track_search(words=words)[deep])) if matches > deep.stop else None,
            "count_ms": timed(lambda: track_search(words=words).count()),
            "request_ms": timed(lambda: list(Paginator(track_search(words=words), PAGE).page(1))),
        },
        "after": {
            "page_ms": timed(lambda: TrackSearch(words=words)[: PAGE + 1]),
            "deep_page_ms": timed(lambda: TrackSearch(words=words)[deep.start : deep.stop + 1])
            if matches > deep.stop
            else None,
            "count_ms": timed(lambda: CappedCountPaginator(TrackSearch(words=words), PAGE).count),
            "request_ms": timed(lambda: list(CappedCountPaginator(TrackSearch(words=words), PAGE).page(1))),
        },
        "same_rows": [t.pk for t in track_search(words=words)[:PAGE]] == [t.pk for t in search[:PAGE]]
        and [t.pk for t in track_search(words=words)[deep]] == [t.pk for t in search[deep]],
    }
    if search.plan(0, PAGE + 1) == "walk":
        # What one track read by the walk costs against one id collected by the union: the walk,
        # unbounded, over the tracks it read; the union's first page over the matches it sorted.
        with override_settings(EARSHOT_SEARCH_PLAN="walk"):
            walk_ms = timed(lambda: TrackSearch(words=words)[: PAGE + 1])
        read = rows_walked(cursor, search)
        walk_us, union_us = 1000 * walk_ms / read, 1000 * result["before"]["page_ms"] / matches
        result["calibration"] = {
            "rows_walked": read,
            "walk_ms": walk_ms,
            "walk_us_per_row": round(walk_us, 2),
            "union_us_per_id": round(union_us, 2),
            "ratio": round(walk_us / union_us, 2),
        }
    return result


def filled(tracks: int) -> bool:
    """Whether a kept study database holds this fill."""
    if admin(f"SELECT 1 FROM pg_database WHERE datname = '{NAME}'") != "1":  # noqa: S608 - constant NAME
        return False
    try:
        found = subprocess.run(
            ["psql", "-qAt", "-h", "127.0.0.1", "-U", "postgres", "-c", "SELECT count(*) FROM catalog_track", NAME],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    except subprocess.CalledProcessError:
        return False
    return found == str(tracks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the filled database; reuse a kept one")
    arguments = parser.parse_args()
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{NAME}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    reuse = arguments.keep and filled(arguments.tracks)
    if reuse:  # the study's own indexes go, so that the migrations find the schema they left
        drop = f"DROP INDEX IF EXISTS {', '.join((*INDEXES, ORDER_INDEX))}"
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", drop, NAME], check=True)
    else:
        admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
        admin(f"CREATE DATABASE {NAME}")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)
        import django

        django.setup()
        from django.db import connection

        with connection.cursor() as cursor:
            for name in (*INDEXES, ORDER_INDEX):
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
            if reuse:
                print(f"reusing the {arguments.tracks} tracks of {NAME}", file=sys.stderr)
            else:
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
            started = time.monotonic()
            cursor.execute(f"CREATE INDEX {ORDER_INDEX} ON catalog_track (title, id)")
            order_build_s = time.monotonic() - started
            cursor.execute("ANALYZE")
            compared = {label: compare(cursor, words, arguments.tracks) for label, words in SHARES.items()}
        connection.close()
    finally:
        if not arguments.keep:
            admin(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")
    from catalog.selectors import WALK_COST_RATIO
    from portal.pagination import CappedCountPaginator

    result = {
        "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "tracks": arguments.tracks,
        "artists": arguments.tracks // 10,
        "without_index": without,
        "with_index": with_index,
        "index_build_s": round(build_s, 1),
        "index_bytes": index_bytes,
        "order_index_build_s": round(order_build_s, 1),
        "runs": RUNS,
        "page": PAGE,
        "deep_page": DEEP_PAGE,
        "count_cap": CappedCountPaginator.count_cap,
        "walk_cost_ratio": WALK_COST_RATIO,
        "capped_and_walked": compared,
    }
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
