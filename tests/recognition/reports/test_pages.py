"""A report of many tracks: pages of 50 tracks with the whole report's totals, and the CSV streamed
in the order and bytes of the report read at once."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.http import StreamingHttpResponse
from rest_framework.renderers import JSONRenderer

from accounts.models import Role
from recognition.monitors.models import Detection, Monitor
from recognition.reports import views
from recognition.reports.export import report_json_rows
from recognition.reports.filters import report_filters
from recognition.reports.selectors import plays_report, report_rows, report_summary
from tests.factories import TrackFactory
from tests.recognition.reports.conftest import DAY, detect, play

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
TRACKS = 55


@pytest.fixture
def catalog(make_user):
    """55 tracks of one rights holder, "Song 00" to "Song 54", heard once each by a monitor (for
    54 of them) or twice (for "Song 00", so one track leads on plays, the rest on titles)."""
    holder = make_user(Role.RIGHTS_HOLDER, username="label_many")
    radio = Monitor.objects.create(owner=make_user(Role.MONITOR), name="Radio Many", source_url="https://r.example/")
    tracks = [TrackFactory(owner=holder, title=f"Song {n:02d}") for n in range(TRACKS)]
    Detection.objects.bulk_create(
        Detection(
            monitor=radio, track=track, title=track.title, started_at=DAY + dt.timedelta(minutes=n),
            ended_at=DAY + dt.timedelta(minutes=n, seconds=30 + n), offset_start_s=0, offset_end_s=30 + n,
            confidence=0.999, open=False,
        )
        for n, track in enumerate([tracks[0], *tracks])
    )  # fmt: skip
    return holder, radio, tracks


def _listed(page: str) -> list[str]:
    """The titles of the "By track and source" table, in order."""
    rows = page.split('data-testid="report-rows"')[1]
    return re.findall(r'<tbody class="report-track">\s*<tr[^>]*>\s*<td><strong>([^<]*)</strong>', rows)


def _summary(page: str) -> str:
    return re.search(r'data-testid="report-summary">(.*?)·', page, re.DOTALL)[1]


@pytest.mark.django_db
def test_a_page_lists_50_tracks_and_the_next_one_the_51st(client, catalog):
    holder, _radio, _tracks = catalog
    client.force_login(holder)
    first = client.get("/reports/", NOVEMBER).content.decode()
    second = client.get("/reports/", {**NOVEMBER, "page": 2}).content.decode()
    assert views.TRACKS_PER_PAGE == 50
    assert _listed(first) == [f"Song {n:02d}" for n in range(50)]
    assert _listed(second) == [f"Song {n:02d}" for n in range(50, TRACKS)]  # the 51st track opens page 2
    # Totals, top tracks and chart are of the whole report on every page.
    assert "<strong>56</strong> plays" in _summary(first) and _summary(first) == _summary(second)
    assert first.count('data-testid="top-track"') == second.count('data-testid="top-track"') == 10
    assert first.split('data-testid="report-rows"')[0].count('data-testid="chart-bar"') == 1
    assert second.split('data-testid="report-rows"')[0].count('data-testid="chart-bar"') == 1
    assert "Tracks 51–55 of 55" in second and "page 2 of 2" in second


@pytest.mark.django_db
def test_the_summary_totals_every_row_not_the_page(catalog):
    holder, _radio, _tracks = catalog
    filters = report_filters(NOVEMBER)
    summary, report = report_summary(holder, filters), plays_report(holder, filters)
    assert (summary.plays, len(summary.tracks)) == (report.plays, len(report.tracks())) == (56, TRACKS)
    assert summary.played_s == pytest.approx(report.played_s)
    assert [(t.track_id, t.plays) for t in summary.tracks] == [(t.track_id, t.plays) for t in report.tracks()]
    assert summary.sources() == report.sources() and summary.days == report.days


@pytest.mark.django_db
@pytest.mark.parametrize(("asked", "shown"), [("abc", 1), ("0", 2), ("-1", 2), ("999", 2), ("", 1), ("2.0", 1)])
def test_a_bad_page_number_gives_what_django_gives(client, catalog, asked, shown):
    """Paginator.get_page: not a number is page 1, past either end is the last page."""
    holder, _radio, _tracks = catalog
    client.force_login(holder)
    response = client.get("/reports/", {**NOVEMBER, "page": asked})
    assert response.status_code == 200
    assert f"page {shown} of 2" in response.content.decode()


@pytest.mark.django_db
def test_page_links_keep_the_filters(client, catalog):
    holder, radio, _tracks = catalog
    client.force_login(holder)
    page = client.get("/reports/", {**NOVEMBER, "source": f"monitor:{radio.pk}"}).content.decode()
    kept = f"?from=2026-11-01&amp;to=2026-11-30&amp;source=monitor%3A{radio.pk}"
    assert f'href="{kept}&amp;page=2" rel="next"' in page and f'href="{kept}&amp;page=2">Last' in page
    back = client.get("/reports/", {**NOVEMBER, "source": "monitor", "page": 2}).content.decode()
    assert 'href="?from=2026-11-01&amp;to=2026-11-30&amp;source=monitor&amp;page=1" rel="prev"' in back
    # Without dates, the links carry the range the page shows, so page 2 is the same report.
    undated = client.get("/reports/", {"from": "2026-11-05"}).content.decode()
    assert re.search(r'href="\?from=2026-11-05&amp;to=\d{4}-\d\d-\d\d&amp;page=2"', undated)


@pytest.mark.django_db
def test_one_track_is_one_page_of_every_source(client, world):
    client.force_login(world.holder_a)
    page = client.get("/reports/", {**NOVEMBER, "track": world.t1.pk}).content.decode()
    assert _listed(page) == ["Harbour Lights"] and 'data-testid="report-pages"' not in page


def _old_csv(report) -> bytes:
    """The export as it was written before it streamed: the whole report, then a StringIO."""
    from portal.spreadsheets import spreadsheet_cell
    from recognition.reports.export import CSV_FIELDS

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for row in report_json_rows(report):
        for name in ("title", "artist", "source_name"):
            row[name] = spreadsheet_cell(row[name])
        writer.writerow([row[name] for name in CSV_FIELDS])
    return buffer.getvalue().encode()


@pytest.fixture
def ties(world):
    """Rows that tie on plays: titles equal but for case, one track heard by four sources once each."""
    holder = world.holder_a
    lower, upper, accent = (TrackFactory(owner=holder, title=t) for t in ("banana", "Banana", "Éclair"))
    for track in (lower, upper, accent):
        detect(world.radio, track, DAY + dt.timedelta(hours=1), 60)
    for source in ("microphone", "upload", "api"):
        play(world.listener, accent, source, DAY + dt.timedelta(hours=2), 5.25)
    return world


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["holder_a", "staff"])
def test_the_streamed_csv_is_the_old_csv_byte_for_byte(client, ties, make_user, who):
    user = ties.holder_a if who == "holder_a" else make_user(Role.STAFF)
    client.force_login(user)
    for params in (NOVEMBER, {**NOVEMBER, "source": "upload"}, {**NOVEMBER, "track": str(ties.t1.pk)}):
        response = client.get("/reports/plays.csv", params)
        assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
        streamed = b"".join(response.streaming_content)
        assert streamed == _old_csv(plays_report(user, report_filters(params)))
    assert streamed.count(b"\r\n") == 1 + 3  # Harbour Lights: a monitor, listens, API


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["holder_a", "staff"])
def test_the_streamed_json_holds_the_rows_the_api_gave_before(client, ties, make_user, who):
    """The API's JSON streams too, DRF's compact, unescaped form, the count after the rows."""
    user = ties.holder_a if who == "holder_a" else make_user(Role.STAFF)
    client.force_login(user)
    for params in (NOVEMBER, {**NOVEMBER, "source": "upload"}, {**NOVEMBER, "track": str(ties.t1.pk)}):
        response = client.get("/api/v1/reports/plays", params)
        assert response.status_code == 200 and isinstance(response, StreamingHttpResponse)
        streamed = b"".join(response.streaming_content)
        rows = report_json_rows(plays_report(user, report_filters(params)))
        assert json.loads(streamed) == {"count": len(rows), "results": rows}
        # Byte for byte DRF's rendering of the same rows, `count` moved after them.
        assert streamed == b'{"results":' + JSONRenderer().render(rows) + f',"count":{len(rows)}}}'.encode()
        if params is NOVEMBER:
            assert "Éclair".encode() in streamed  # not \u00c9clair


@pytest.mark.django_db
def test_rows_read_in_chunks_are_the_report_rows(ties):
    filters = report_filters(NOVEMBER)
    assert list(report_rows(ties.holder_a, filters, chunk_size=2)) == plays_report(ties.holder_a, filters).rows
    assert list(report_rows(ties.listener, filters)) == []


@pytest.mark.django_db
def test_under_asgi_the_exports_stream_in_chunks_of_lines(ties, monkeypatch):
    """Django's ASGI handler would read a synchronous iterator whole before sending: the export
    hands it an asynchronous one that pulls the rows a chunk at a time."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from portal import spreadsheets

    monkeypatch.setattr(spreadsheets, "LINES_PER_CHUNK", 2)

    async def fetch(url: str, params: dict) -> tuple:
        client = AsyncClient()
        await client.aforce_login(ties.holder_a)
        response = await client.get(url, params)
        return response, [chunk async for chunk in response.streaming_content]

    for url, params in (("/reports/plays.csv", NOVEMBER), ("/api/v1/reports/plays", {**NOVEMBER, "format": "csv"})):
        response, chunks = async_to_sync(fetch)(url, params)
        assert response.status_code == 200 and response.is_async
        old = _old_csv(plays_report(ties.holder_a, report_filters(NOVEMBER)))
        assert b"".join(chunks) == old
        assert len(chunks) == (old.count(b"\r\n") + 1) // 2 > 3  # 2 lines a chunk
    response, chunks = async_to_sync(fetch)("/api/v1/reports/plays", NOVEMBER)
    rows = report_json_rows(plays_report(ties.holder_a, report_filters(NOVEMBER)))
    assert response.status_code == 200 and response.is_async
    assert json.loads(b"".join(chunks)) == {"count": len(rows), "results": rows}
    assert len(chunks) == (len(rows) + 2 + 1) // 2 > 2  # the opening, a row a line, the count: 2 a chunk
