"""Pages of the reports: /reports/ (where my music was heard), its CSV, and the plays behind a row."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.http import AuthenticatedHttpRequest
from recognition.reports import chart, export, selectors
from recognition.reports.filters import PLAY_SOURCES, FilterError, ReportFilters, report_filters

# The detections pages (another part of the portal) take these filters; the URL is written out
# rather than reversed so that this page does not depend on their URL names.
DETECTIONS_PATH = "/detections/"
# Tracks the page lists (most plays first); the CSV and the API have every row. A staff report
# of a month can hold 10^5 tracks and sources: a page is for reading, an export for counting.
SHOWN_TRACKS = 200
# Sources listed under each track (most plays first) unless the report is of that one track.
SHOWN_SOURCES = 8


def _forbidden(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "reports/forbidden.html", status=403)


def _filters(request: AuthenticatedHttpRequest) -> ReportFilters:
    """The query's filters; a track the user's reports do not cover is a 404, like a missing one."""
    filters = report_filters(request.GET)
    if filters.track_id is not None and not selectors.report_tracks(request.user).filter(pk=filters.track_id).exists():
        raise Http404("No such track.")
    return filters


def _range(filters: ReportFilters) -> dict:
    return {"from": filters.first_day.isoformat(), "to": filters.last_day.isoformat()}


def row_link(row: selectors.ReportRow, filters: ReportFilters) -> str:
    """Where a row's plays are listed: the monitor's detections of the track, or the plays' times."""
    days = _range(filters)
    if row.monitor_id is not None:
        query = {"track": row.track_id, "monitor": row.monitor_id, **days}
        return f"{DETECTIONS_PATH}?{urlencode(query)}"
    return f"{reverse('reports:plays')}?{urlencode({'track': row.track_id, 'source': row.source, **days})}"


@login_required
@require_GET
def report_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Where my music was heard: a chart of plays per day by source, the top tracks, every row."""
    if not selectors.reports_allowed(request.user):
        return _forbidden(request)
    tracks = selectors.report_tracks(request.user).order_by("title", "id").only("id", "title")[:500]
    form = {"from": request.GET.get("from", ""), "to": request.GET.get("to", "")}
    context: dict = {"tracks": tracks, "params": request.GET, "form": form}
    try:
        filters = _filters(request)
    except FilterError as error:
        return render(request, "reports/report.html", {**context, "error": error.message}, status=400)
    report = selectors.plays_report(request.user, filters)
    everything = report.tracks()
    top = everything[:SHOWN_TRACKS]
    shown = None if filters.track_id is not None else SHOWN_SOURCES
    listed = [
        {
            "total": total,
            "links": [(row, row_link(row, filters)) for row in total.rows[:shown]],
            "more": len(total.rows[shown:]) if shown else 0,
            "more_link": f"?{urlencode({**request.GET.dict(), 'track': total.track_id, **_range(filters)})}",
        }
        for total in top
    ]
    context |= {
        "filters": filters,
        "report": report,
        "top": top,
        "listed": listed,
        "hidden_tracks": len(everything) - len(top),
        "chart": chart.day_chart(report),
        "csv_query": urlencode({k: v for k, v in request.GET.items() if k in ("from", "to", "track", "source")}),
        "range": _range(filters),
        "form": _range(filters),
    }
    return render(request, "reports/report.html", context)


@login_required
@require_GET
def report_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The report's rows as CSV, with the page's filters."""
    if not selectors.reports_allowed(request.user):
        return _forbidden(request)
    try:
        filters = _filters(request)
    except FilterError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(export.report_csv(selectors.plays_report(request.user, filters)), content_type="text/csv")
    days = _range(filters)
    response["Content-Disposition"] = f'attachment; filename="plays-{days["from"]}-{days["to"]}.csv"'
    return response


@login_required
@require_GET
def play_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """When one track was heard by listens, uploads or API clips: times and lengths, never who."""
    if not selectors.reports_allowed(request.user):
        return _forbidden(request)
    try:
        filters = _filters(request)
        if filters.track_id is None or filters.source not in PLAY_SOURCES:
            raise FilterError("source", "Choose a track and a source: listen, upload or api.")
    except FilterError as error:
        return render(request, "reports/plays.html", {"error": error.message}, status=400)
    track = selectors.report_tracks(request.user).get(pk=filters.track_id)
    page = Paginator(selectors.play_times(request.user, filters), 100).get_page(request.GET.get("page"))
    context = {
        "track": track,
        "source_name": selectors.source_label(filters.source),
        "page": page,
        "range": _range(filters),
        "back": f"{reverse('reports:page')}?{urlencode({'track': track.pk, **_range(filters)})}",
        "query": urlencode({"track": track.pk, "source": filters.source, **_range(filters)}),
    }
    return render(request, "reports/plays.html", context)
