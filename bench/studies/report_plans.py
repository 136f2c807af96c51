"""How PostgreSQL plans a rights holder's report on the database `make bench-reports` filled.

    .venv/bin/python -m bench.studies.report_plans > bench/results/studies/report_plans.txt

EXPLAIN ANALYZE (5 runs each, median) of the report's statement for the holder bench.reports
times, over the month, the month with sequential scans disabled, one week and one day: which
scan each side uses and how long the statement takes in the database (docs/decisions.md,
REPORT_SQL).
"""

from __future__ import annotations

import os
import re
import statistics

SCAN = re.compile(r"((?:Parallel )?Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan) (?:using (\w+) )?on (\w+)")
SIDES = ("monitors_detection", "recognition_play")


def main() -> None:
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/earshot_reports"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connection

    from accounts.models import User
    from recognition.reports.filters import report_filters
    from recognition.reports.selectors import REPORT_SQL, report_params

    holder = User.objects.get(username="holder-1")

    def study(label: str, params: dict, setting: str = "") -> None:
        filters = report_filters(params)
        with connection.cursor() as cursor:
            if setting:
                cursor.execute(setting)
            times = []
            for _ in range(5):
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + REPORT_SQL, report_params(holder, filters))
                times.append(cursor.fetchone()[0][0]["Execution Time"])
            cursor.execute("EXPLAIN " + REPORT_SQL, report_params(holder, filters))
            text = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET ALL")
        scans = sorted({" ".join(p for p in found if p) for found in SCAN.findall(text) if found[2] in SIDES})
        print(f"{label}: median {statistics.median(times):.0f} ms of 5 (min {min(times):.0f}); " + "; ".join(scans))

    month = {"from": "2026-11-01", "to": "2026-11-30"}
    study("holder, the month (the planner's choice)", month)
    study("holder, the month, sequential scans disabled", month, "SET enable_seqscan = off")
    study("holder, one week (a quarter of the table)", {"from": "2026-11-10", "to": "2026-11-16"})
    study("holder, one day", {"from": "2026-11-10", "to": "2026-11-10"})


if __name__ == "__main__":
    main()
