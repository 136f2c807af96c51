"""A month's report at 10^6 monitor detections (and Plays): the statement, the pages, the CSV.

    .venv/bin/python -m bench.reports [--detections 1e6] [--plays 1e6] [--runs 7] [--keep-data]
                                      [--before COMMIT] [--database earshot_reports] [--results FILE.json]

Creates (or, with --keep-data, reuses) the database earshot_reports, migrates it, and fills it
with SQL: 100 rights holders owning 100 tracks each, 200 monitors, and `--detections` detections
plus `--plays` plays spread over the 30 days reported (so every row lies in the range: the worst
case of a month's report), 1 % of detections disputed, track popularity skewed (a track's chance
goes with (1 - u)^2 for u uniform). After VACUUM ANALYZE (steady state), times through
`recognition.reports.selectors` the month's report of one rights holder, of one track, and of
staff (every track), and the staff page's summary statement, each `--runs` times after one
warm-up: median, min and max; keeps EXPLAIN (ANALYZE, BUFFERS) of each case with the indexes it
used. Then times the /reports/ pages and CSV exports of the rights holder and of staff (the
views called with a RequestFactory request, the response read to its end) in a process of this
checkout (bench/report_pages.py), and with --before in a process of COMMIT's code too (a
`git archive` of it), on the same database, the two taking turns case by case and run by run.
Results: bench/results/reports.json (`make bench-reports`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2

from bench import BENCH, RESULTS, ROOT

HOLDERS, TRACKS_PER_HOLDER, MONITORS = 100, 100, 200
DAYS = 30
MONTH_END = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
MONTH_START = MONTH_END - dt.timedelta(days=DAYS)


def admin(sql: str) -> None:
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def open_database(name: str, fresh: bool) -> None:
    if fresh:
        admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin(f"CREATE DATABASE {name}")
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(detections: int, plays: int) -> dict:
    """Write the users, tracks, monitors, detections and plays with SQL; return how long it took."""
    from django.db import connection

    started = time.perf_counter()
    seconds = DAYS * 86400
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined, role) "
            "SELECT '!', false, 'holder-' || g, '', '', '', true, true, now(), 'rights_holder' "
            "FROM generate_series(1, %s) g",
            [HOLDERS],
        )
        cursor.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined, role) VALUES ('!', false, 'staff', '', '', '', true, true, now(), 'staff'), "
            "('!', false, 'monitors', '', '', '', false, true, now(), 'monitor')"
        )
        cursor.execute(
            "INSERT INTO catalog_track (created_at, updated_at, owner_id, title, isrc, duration_s, audio, sha256, "
            "fingerprint_status, fingerprint_error, hash_count, artwork, links, preview, preview_allowed) "
            "SELECT now(), now(), u.id, 'Track ' || g, '', 200, '', NULL, 'ready', '', 0, '', '{}', '', false "
            "FROM generate_series(0, %s - 1) g JOIN accounts_user u ON u.username = 'holder-' || (g %% %s + 1)",
            [HOLDERS * TRACKS_PER_HOLDER, HOLDERS],
        )
        cursor.execute(
            "INSERT INTO monitors_monitor (owner_id, name, kind, source_url, device_token_hash, paused, state, "
            "state_reason, state_changed_at, lease_owner, heard_last_minute_s, retention_days, created_at) "
            "SELECT u.id, 'Station ' || g, 'stream', 'https://radio.example/' || g, '', false, 'running', '', now(), "
            "'', 0, 7, now() FROM generate_series(1, %s) g JOIN accounts_user u ON u.username = 'monitors'",
            [MONITORS],
        )
        cursor.execute("SELECT min(id), count(*) FROM catalog_track")
        first_track, tracks = cursor.fetchone()
        cursor.execute("SELECT min(id) FROM monitors_monitor")
        (first_monitor,) = cursor.fetchone()
        # Popular tracks first: (1 - u)^2 puts ~1/3 of the plays on the first 10 % of tracks.
        cursor.execute(
            "INSERT INTO monitors_detection (monitor_id, track_id, title, artist, started_at, ended_at, "
            "offset_start_s, offset_end_s, confidence, speed, open, retroactive, disputed, evidence, created_at, "
            "updated_at) "
            "SELECT %(m)s + (random() * (%(monitors)s - 1))::int, t, 'Track', '', at, at + make_interval(secs => d), "
            "0, d, 0.999, NULL, false, false, random() < 0.01, '', at, at "
            "FROM (SELECT %(t)s + floor(%(tracks)s * power(random(), 2))::int AS t, "
            "      %(start)s::timestamptz + make_interval(secs => random() * %(seconds)s) AS at, "
            "      30 + random() * 200 AS d FROM generate_series(1, %(n)s)) g",
            {"m": first_monitor, "monitors": MONITORS, "t": first_track, "tracks": tracks, "start": MONTH_START,
             "seconds": seconds, "n": detections},
        )  # fmt: skip
        cursor.execute(
            "INSERT INTO recognition_recognition (id, source, status, created_at, segments, error_code, "
            "error_message, media, original_name, keep_media, attempts, progress, task_id) "
            "SELECT gen_random_uuid(), (ARRAY['microphone', 'upload', 'api'])[1 + (random() * 2)::int], 'done', "
            "%(start)s::timestamptz + make_interval(secs => random() * %(seconds)s), '[]', '', '', '', '', false, "
            "1, 1, '' FROM generate_series(1, %(n)s)",
            {"start": MONTH_START, "seconds": seconds, "n": plays},
        )
        cursor.execute(
            "INSERT INTO recognition_play (recognition_id, track_id, source, heard_at, played_s, start_s, offset_s) "
            "SELECT r.id, %(t)s + floor(%(tracks)s * power(random(), 2))::int, r.source, r.created_at, "
            "5 + random() * 60, 0, 0 FROM recognition_recognition r",
            {"t": first_track, "tracks": tracks},
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"fill_s": round(time.perf_counter() - started, 1)}


def counts() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM monitors_detection), (SELECT count(*) FROM recognition_play), "
            "(SELECT count(*) FROM catalog_track), (SELECT count(*) FROM monitors_monitor), "
            "pg_total_relation_size('monitors_detection'), pg_total_relation_size('recognition_play')"
        )
        detections, plays, tracks, monitors, detection_bytes, play_bytes = cursor.fetchone()
    return {"detections": detections, "plays": plays, "tracks": tracks, "monitors": monitors, "holders": HOLDERS,
            "detection_table_bytes": detection_bytes, "play_table_bytes": play_bytes}  # fmt: skip


SCAN = re.compile(r"(Parallel )?(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)(?: using (\w+))? on (\w+)")
BITMAP_INDEX = re.compile(r"Bitmap Index Scan on (\w+)")
SIDES = {"monitors_detection": "detections", "recognition_play": "plays"}


def sides(plan: list[str]) -> dict:
    """How the plan reads each ledger: "Index Only Scan using play_track_heard_idx", "Parallel Seq Scan"."""
    found: dict = {}
    for at, line in enumerate(plan):
        scan = SCAN.search(line)
        if not scan or scan[4] not in SIDES:
            continue
        parallel, kind, index, table = scan.groups()
        if kind == "Bitmap Heap Scan":
            below = next((BITMAP_INDEX.search(later) for later in plan[at + 1 :] if BITMAP_INDEX.search(later)), None)
            index = below[1] if below else None
        found[SIDES[table]] = f"{parallel or ''}{kind}" + (f" using {index}" if index else "")
    return found


def explain(user, filters) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of the report's statement, and how it reads each ledger."""
    from django.db import connection

    from recognition.reports.selectors import REPORT_SQL, report_params

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + REPORT_SQL, report_params(user, filters))
        plan = [row[0] for row in cursor.fetchall()]
    return {"reads": sides(plan), "plan": plan}


def timed(call, runs: int) -> dict:
    call()  # warm-up: caches, the first connection
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1), "runs": len(times)}  # fmt: skip


PAGE_CASES = {
    "holder_page": "the rights holder's /reports/ page",
    "holder_csv": "the rights holder's CSV export",
    "staff_page": "staff's /reports/ page",
    "staff_page_2": "staff's /reports/ page 2 (before: the same page)",
    "staff_csv": "staff's CSV export",
    "staff_json": "staff's report from the API, JSON",
}
PAGE_SIZES = (25, 50, 100, 200)  # tracks a page, tried on this checkout's pages
WARMED = ("holder_page", "holder_csv")  # the staff cases take seconds: a warm-up would change nothing


def head() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def checkout(commit: str, into: Path) -> None:
    """COMMIT's files, unpacked into `into` (`git archive`: no worktree, no checkout of ours changed)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def page_worker(tree: Path) -> subprocess.Popen:
    """A process of `tree`'s code that times the cases it is sent (bench/report_pages.py)."""
    runner = f"import runpy; runpy.run_path({str(BENCH / 'report_pages.py')!r}, run_name='__main__')"
    return subprocess.Popen(
        [sys.executable, "-c", runner], cwd=tree, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip


def ask(worker: subprocess.Popen, case: str, per_page: int | None = None) -> dict:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(case + (f" {per_page}" if per_page else "") + "\n")
    worker.stdin.flush()
    answer = json.loads(worker.stdout.readline())
    assert answer["status"] == 200, (case, answer)
    return answer


def _spread(times: list[float]) -> dict:
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1)}  # fmt: skip


def compare_pages(database: str, runs: int, before: str | None) -> dict:
    """The pages and exports of this checkout and, with `before`, of that commit, taking turns."""
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    with tempfile.TemporaryDirectory(prefix="earshot-before-") as scratch:
        trees = {"after": ROOT}
        if before:
            checkout(before, Path(scratch))
            trees = {"before": Path(scratch), "after": ROOT}
        workers = {side: page_worker(tree) for side, tree in trees.items()}
        answers: dict = {case: {side: [] for side in trees} for case in PAGE_CASES}
        try:
            for case in WARMED:
                for worker in workers.values():
                    ask(worker, case)
            for run in range(runs):
                for case in PAGE_CASES:
                    # Each side goes first every other run: neither always meets a warmer cache.
                    for side in list(trees)[:: 1 if run % 2 == 0 else -1]:
                        answers[case][side].append(ask(workers[side], case))
                        print(f"{case} {side}: {answers[case][side][-1]['ms']:,.0f} ms", flush=True)
            by_size: dict = {(size, case): [] for size in PAGE_SIZES for case in ("holder_page", "staff_page")}
            for _ in range(runs):  # every size in each run: the machine's load drifts over all alike
                for (size, case), found in by_size.items():
                    found.append(ask(workers["after"], case, size))
                    print(f"{case} at {size} a page: {found[-1]['ms']:,.0f} ms", flush=True)
            sizes: dict = {}
            for (size, case), found in by_size.items():
                sizes.setdefault(str(size), {})[case] = {
                    **_spread([a["ms"] for a in found]),
                    "bytes": found[0]["bytes"],
                }
        finally:
            for worker in workers.values():
                worker.communicate(timeout=60)
    cases: dict = {}
    for case, about in PAGE_CASES.items():
        entry: dict = {"about": about}
        for side, found in answers[case].items():
            entry[side] = {
                **_spread([a["ms"] for a in found]),
                "first_row_ms": round(statistics.median(a["first_row_ms"] for a in found), 1),
                "bytes": found[0]["bytes"],
                "streamed": found[0]["streamed"],
                "chart_bars": found[0]["chart_bars"],
            }
        for side, found in answers[case].items():
            # Runs of one side may differ: float sums of a parallel plan add in another order.
            entry[side]["distinct_bytes"] = len({a["sha256"] for a in found})
        if before:
            entry["ratio"] = round(entry["before"]["median_ms"] / entry["after"]["median_ms"], 1)
            digests = [{a["sha256"] for a in answers[case][side]} for side in ("before", "after")]
            entry["same_bytes"] = bool(digests[0] & digests[1])  # in at least one run of each
        cases[case] = entry
    peak = {side: max(a["peak_rss_mb"] for case in answers.values() for a in case[side]) for side in trees}
    load = round(os.getloadavg()[0], 2)
    return {"before": before, "after": head(), "runs": runs, "load_average": load, "cases": cases, "peak_rss_mb": peak,
            "page_sizes": sizes}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    open_database(args.database, fresh=not args.keep_data)
    from accounts.models import User

    filled = {} if args.keep_data else fill(int(args.detections), int(args.plays))
    from catalog.models import Track
    from recognition.reports.filters import report_filters
    from recognition.reports.selectors import plays_report, report_summary

    month = {"from": MONTH_START.date().isoformat(), "to": (MONTH_END - dt.timedelta(days=1)).date().isoformat()}
    holder = User.objects.get(username="holder-1")
    staff = User.objects.get(username="staff")
    track = Track.objects.filter(owner=holder).order_by("id").first()
    cases = {
        "holder": (holder, month, f"a rights holder's {TRACKS_PER_HOLDER} tracks"),
        "track": (holder, {**month, "track": str(track.pk)}, "one track (the holder's most heard)"),
        "staff": (staff, month, "staff: every track"),
    }
    results: dict = {}
    for name, (user, params, about) in cases.items():
        filters = report_filters(params)
        report = plays_report(user, filters)
        results[name] = {
            "about": about,
            "rows": len(report.rows),
            "plays": report.plays,
            **timed(lambda u=user, f=filters: plays_report(u, f), args.runs),
            **explain(user, filters),
        }
        print(f"{name}: {results[name]['median_ms']} ms median, {report.plays:,} plays, {len(report.rows):,} rows")

    staff_filters = report_filters(month)
    summary = report_summary(staff, staff_filters)
    results["staff_summary"] = {
        "about": "staff: each track's totals and the chart (the page's statement)",
        "rows": len(summary.tracks),
        "plays": summary.plays,
        **timed(lambda: report_summary(staff, staff_filters), args.runs),
    }
    print(f"staff_summary: {results['staff_summary']['median_ms']} ms median")
    data = {
        "when": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "month": month,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average": round(os.getloadavg()[0], 2),
        **counts(),
        **filled,
        "cases": results,
        "pages": compare_pages(args.database, args.runs, args.before),
    }
    Path(args.results).write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.results}")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detections", type=float, default=1e6)
    parser.add_argument("--plays", type=float, default=1e6)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default="earshot_reports")
    parser.add_argument("--keep-data", action="store_true", help="reuse the filled database of an earlier run")
    parser.add_argument("--before", help="also time the pages and exports of this commit's code, taking turns")
    parser.add_argument("--results", default=str(RESULTS / "reports.json"))
    run(parser.parse_args())


if __name__ == "__main__":
    main()
