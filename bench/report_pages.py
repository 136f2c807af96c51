"""Time one checkout's report pages and CSV exports, a case at a time on request (bench.reports).

    cd CHECKOUT && python -c "import runpy; runpy.run_path('/abs/bench/report_pages.py', run_name='__main__')"

with DATABASE_URL naming the filled database of `bench.reports`. Reads a case name a line on
stdin (CASES; "staff_page 100" with a page size to try) and answers a JSON line: the time of
the view called with a RequestFactory request, the response read to its end (a streamed CSV
chunk by chunk, the time of its first row kept), its size, SHA-256 and chart bars, and the
process's peak resident memory so far. It imports nothing of bench/ and takes the pages from
the working directory's checkout, so `bench.reports --before COMMIT` runs an older checkout's
code beside this one's on one database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path

MONTH = {"from": "2026-11-01", "to": "2026-11-30"}  # bench.reports' month
# case: (user, view, query)
CASES = {
    "holder_page": ("holder-1", "report_page", MONTH),
    "holder_csv": ("holder-1", "report_csv", MONTH),
    "staff_page": ("staff", "report_page", MONTH),
    "staff_page_2": ("staff", "report_page", {**MONTH, "page": "2"}),
    "staff_csv": ("staff", "report_csv", MONTH),
    "staff_json": ("staff", "api", MONTH),  # GET /api/v1/reports/plays, signed in
}


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts again at exec (getrusage's
    ru_maxrss keeps the parent's peak, here bench.reports' with a staff report in it)."""
    status = Path("/proc/self/status").read_text()
    return round(int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)[1]) / 1024, 1)


def serve() -> None:
    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.test import RequestFactory
    from rest_framework.test import APIRequestFactory, force_authenticate

    from accounts.models import User
    from recognition.reports import views
    from recognition.reports.api import ReportPlaysApi

    default_per_page = getattr(views, "TRACKS_PER_PAGE", None)
    users = {name: User.objects.get(username=name) for name in ("holder-1", "staff")}
    for line in sys.stdin:
        case, _, per_page = line.strip().partition(" ")
        username, view, query = CASES[case]
        # A page size to try (this checkout's pages only), else the checkout's own.
        views.TRACKS_PER_PAGE = int(per_page) if per_page else default_per_page
        digest, size, first_row_ms, bars = hashlib.sha256(), 0, None, 0
        if view == "api":
            request = APIRequestFactory().get("/api/v1/reports/plays", query)
            force_authenticate(request, users[username])
            started = time.perf_counter()
            response = ReportPlaysApi.as_view()(request)
            if not response.streaming:
                response.render()
        else:
            request = RequestFactory().get("/reports/", query)
            request.user = users[username]
            started = time.perf_counter()
            response = getattr(views, view)(request)
        chunks = response.streaming_content if response.streaming else [response.content]
        for at, chunk in enumerate(chunks):
            if first_row_ms is None and at == (1 if response.streaming else 0):  # a CSV's header comes first
                first_row_ms = (time.perf_counter() - started) * 1000
            digest.update(chunk)
            size += len(chunk)
            bars += chunk.count(b'data-testid="chart-bar"') if view == "report_page" else 0
        elapsed_ms = (time.perf_counter() - started) * 1000
        answer = {
            "status": response.status_code,
            "ms": round(elapsed_ms, 1),
            "first_row_ms": round(first_row_ms or elapsed_ms, 1),
            "bytes": size,
            "sha256": digest.hexdigest(),
            "streamed": bool(response.streaming),
            "chart_bars": bars,
            "peak_rss_mb": peak_rss_mb(),
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
