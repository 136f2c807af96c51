"""Pages of the reports: /reports/ (where my music was heard), its CSV, and the plays behind a row."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.http import AuthenticatedHttpRequest
from portal.spreadsheets import streamed_lines
from recognition.reports import chart, export, selectors, tables
from recognition.reports.filters import PLAY_SOURCES, FilterError, ReportFilters, report_filters

# The detections pages (another part of the portal) take these filters; the URL is written out
# rather than reversed so that this page does not depend on their URL names.
DETECTIONS_PATH = "/detections/"
# Tracks a page of the report lists (most plays first), with links to the other pages; the
# totals, the top tracks and the chart are of the whole report. 50 keeps a staff page at a few
# hundred rows (docs/decisions.md, TRACKS_PER_PAGE).
TRACKS_PER_PAGE = 50
# Tracks in the "Top tracks" table.
TOP_TRACKS = 10
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
    """Where my music was heard: a chart of plays per day by source, the top tracks, and a page
    of the rows by track and source; totals and chart are of every row."""
    if not selectors.reports_allowed(request.user):
        return _forbidden(request)
    tracks = selectors.report_tracks(request.user).order_by("title", "id").only("id", "title")[:500]
    form = {"from": request.GET.get("from", ""), "to": request.GET.get("to", "")}
    context: dict = {"tracks": tracks, "params": request.GET, "form": form}
    try:
        filters = _filters(request)
    except FilterError as error:
        return render(request, "reports/report.html", {**context, "error": error.message}, status=400)
    summary = selectors.report_summary(request.user, filters)
    page = Paginator(summary.tracks, TRACKS_PER_PAGE).get_page(request.GET.get("page"))
    on_page = list(page.object_list)
    rows: dict[int, list[selectors.ReportRow]] = {total.track_id: [] for total in on_page}
    for row in selectors.plays_report(request.user, filters, track_ids=list(rows)).rows:
        rows[row.track_id].append(row)
    top = summary.tracks[:TOP_TRACKS]
    artists = selectors.track_artists([total.track_id for total in (*top, *on_page)])
    for total in (*top, *on_page):
        total.artist = artists.get(total.track_id, "")
    shown = None if filters.track_id is not None else SHOWN_SOURCES
    kept = {**_range(filters), **({"source": filters.source} if filters.source else {})}
    listed = []
    for total in on_page:
        heard = rows[total.track_id]
        listed.append({
            "total": total,
            "links": [(row, row_link(row, filters)) for row in heard[:shown]],
            "more": len(heard[shown:]) if shown else 0,
            "more_link": f"?{urlencode({**kept, 'track': total.track_id})}",
        })  # fmt: skip
    if filters.track_id is not None:
        kept["track"] = str(filters.track_id)
    context |= {
        "filters": filters,
        "report": summary,
        "top": top,
        "rows_html": tables.track_rows(listed),
        "page": page,
        "page_query": urlencode(kept),
        "chart": chart.day_chart(summary),
        "csv_query": urlencode({k: v for k, v in request.GET.items() if k in ("from", "to", "track", "source")}),
        "range": _range(filters),
        "form": _range(filters),
    }
    return render(request, "reports/report.html", context)


@login_required
@require_GET
def report_csv(request: AuthenticatedHttpRequest) -> HttpResponseBase:
    """The report's rows as CSV, with the page's filters, streamed as they are read."""
    if not selectors.reports_allowed(request.user):
        return _forbidden(request)
    try:
        filters = _filters(request)
    except FilterError as error:
        return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")
    lines = export.report_csv_lines(selectors.report_rows(request.user, filters))
    response = StreamingHttpResponse(streamed_lines(request, lines), content_type="text/csv")
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
