"""A monitor's play log (cue sheet): the page, its CSV and the API, by period, disputed plays left out."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from recognition.monitors import services
from recognition.monitors.models import Detection
from recognition.monitors.periods import PeriodInvalid, period_parse
from tests.factories import AlbumFactory, TrackFactory

pytestmark = pytest.mark.django_db


def _at(detection: Detection, when: datetime, length_s: float) -> Detection:
    Detection.objects.filter(pk=detection.pk).update(started_at=when, ended_at=when + timedelta(seconds=length_s))
    detection.refresh_from_db()
    return detection


@pytest.fixture
def log(device_monitor, detect, rights_holder):
    """Four plays on the guard's bar: two on 3 March 2026, one on the 4th, one (disputed) on the 3rd."""
    bar, _ = device_monitor
    album = AlbumFactory(owner=rights_holder, title="Night Ferries")
    waltz = TrackFactory(owner=rights_holder, title="Lighthouse Waltz", album=album, isrc="GBAYE2600001")
    bare = TrackFactory(owner=rights_holder, title="=HYPERLINK(1)")
    plays = {
        "early": _at(detect(bar, waltz), datetime(2026, 3, 3, 8, 0, tzinfo=UTC), 184.4),
        "late": _at(detect(bar, bare), datetime(2026, 3, 3, 23, 59, 30, tzinfo=UTC), 61.0),
        "next_day": _at(detect(bar, waltz), datetime(2026, 3, 4, 0, 0, 30, tzinfo=UTC), 30.0),
        "disputed": _at(detect(bar, waltz), datetime(2026, 3, 3, 12, 0, tzinfo=UTC), 45.0),
    }
    services.detection_dispute(detection=plays["disputed"], user=rights_holder, reason="Someone humming")
    # Measured from their drift: the late play ran 10 % fast, the early one as recorded (within 1 %).
    Detection.objects.filter(pk=plays["late"].pk).update(speed=1.1)
    Detection.objects.filter(pk=plays["early"].pk).update(speed=1.004)
    return bar, plays


def _as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_api_gives_the_cue_sheet_of_a_period_oldest_first(log, monitor_user):
    bar, plays = log
    response = _as(monitor_user).get(f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-03", "to": "2026-03-03"})
    assert response.status_code == 200, response.json()
    rows = response.json()["results"]
    assert [r["detection_id"] for r in rows] == [plays["early"].pk, plays["late"].pk]  # disputed and the 4th left out
    assert rows[0] == {
        "detection_id": plays["early"].pk,
        "started_at": "2026-03-03T08:00:00+00:00",
        "ended_at": "2026-03-03T08:03:04.400000+00:00",
        "track_id": plays["early"].track_id,
        "title": "Lighthouse Waltz",
        "artist": "",
        "album": "Night Ferries",
        "isrc": "GBAYE2600001",
        "played_s": 184.4,
        "open": False,
        "speed": None,
    }
    assert rows[1]["album"] == "" and rows[1]["isrc"] == "" and rows[1]["played_s"] == 61.0
    assert rows[1]["speed"] == 1.1
    to_the_4th = _as(monitor_user).get(f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-03", "to": "2026-03-04"})
    assert [r["detection_id"] for r in to_the_4th.json()["results"]][-1] == plays["next_day"].pk
    by_time = _as(monitor_user).get(
        f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-03T09:00:00Z", "to": "2026-03-04T00:00:00+00:00"}
    )
    assert [r["detection_id"] for r in by_time.json()["results"]] == [plays["late"].pk]


def test_the_csv_holds_the_same_rows_and_defuses_formulas(log, monitor_user):
    bar, plays = log
    response = _as(monitor_user).get(
        f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-01", "to": "2026-03-31", "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="monitor-{bar.pk}-play-log-20260301-20260331.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["detection_id"]) for r in rows] == [plays["early"].pk, plays["late"].pk, plays["next_day"].pk]
    assert rows[0]["isrc"] == "GBAYE2600001" and rows[0]["album"] == "Night Ferries" and rows[0]["played_s"] == "184.4"
    assert rows[1]["title"] == "'=HYPERLINK(1)"
    assert [r["speed"] for r in rows] == ["", "1.1", ""]
    page_csv = _as(monitor_user).get(f"/monitors/{bar.pk}/log.csv?from=2026-03-01&to=2026-03-31")
    assert b"".join(page_csv.streaming_content) == b"".join(
        _as(monitor_user)
        .get(f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-01", "to": "2026-03-31", "format": "csv"})
        .streaming_content
    )


def test_the_page_shows_the_period_and_links_to_the_export(log, monitor_user):
    bar, plays = log
    client = _as(monitor_user)
    assert f'href="/monitors/{bar.pk}/log"' in client.get(f"/monitors/{bar.pk}/").content.decode()
    page = client.get(f"/monitors/{bar.pk}/log?from=2026-03-03&to=2026-03-03")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="play"') == 2 and "Night Ferries" in html and "GBAYE2600001" in html
    assert "2026-03-03 08:00:00" in html and "3:04" in html  # 184 s played, as every page shows it
    assert f"/monitors/{bar.pk}/log.csv?from=2026-03-03&amp;to=2026-03-03" in html
    assert 'value="2026-03-03"' in html
    assert f'data-id="{plays["disputed"].pk}"' not in html
    assert html.count('data-testid="play-change"') == 1 and "played 10 % fast" in html  # the late play only


def test_without_a_period_the_log_is_the_last_seven_days(device_monitor, detect, monitor_user):
    bar, _ = device_monitor
    recent = detect(bar, TrackFactory(), minutes_ago=60)
    old = _at(detect(bar, TrackFactory()), datetime.now(UTC) - timedelta(days=8), 30)
    client = _as(monitor_user)
    assert [r["detection_id"] for r in client.get(f"/api/v1/monitors/{bar.pk}/log").json()["results"]] == [recent.pk]
    page = client.get(f"/monitors/{bar.pk}/log")
    today = datetime.now(UTC).date()
    assert page.context["days"] == {"from": today - timedelta(days=6), "to": today}
    wide = client.get(f"/api/v1/monitors/{bar.pk}/log", {"from": (today - timedelta(days=30)).isoformat()})
    assert [r["detection_id"] for r in wide.json()["results"]] == [old.pk, recent.pk]


def test_bad_periods_are_refused(device_monitor, monitor_user):
    bar, _ = device_monitor
    client = _as(monitor_user)
    for query in (
        {"from": "03/03/2026"},
        {"to": "2026-02-30"},
        {"from": "2026-03-03T10:00"},
        {"from": "2026-03-04", "to": "2026-03-01"},
    ):
        response = client.get(f"/api/v1/monitors/{bar.pk}/log", query)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid", query
        assert client.get(f"/monitors/{bar.pk}/log", query).status_code == 400
    assert client.get(f"/api/v1/monitors/{bar.pk}/log", {"format": "xml"}).status_code == 400
    with pytest.raises(PeriodInvalid):
        period_parse("2026-03-03T10:00:00")  # no zone: whose ten o'clock?


def test_the_log_is_the_monitors_owners_and_staffs_only(log, rights_holder, staff, make_user):
    bar, _ = log
    for user in (rights_holder, make_user(Role.MONITOR)):  # the holder's tracks played there, still not theirs
        assert _as(user).get(f"/api/v1/monitors/{bar.pk}/log").status_code == 404
        assert _as(user).get(f"/monitors/{bar.pk}/log").status_code == 404
        assert _as(user).get(f"/monitors/{bar.pk}/log.csv").status_code == 404
    assert _as(staff).get(f"/api/v1/monitors/{bar.pk}/log", {"from": "2026-03-01"}).json()["count"] == 3
    assert _as(make_user(Role.LISTENER)).get(f"/api/v1/monitors/{bar.pk}/log").status_code == 403


def test_under_asgi_the_monitor_exports_stream_in_chunks_of_lines(log, monitor_user, monkeypatch):
    """Daphne's handler reads a synchronous iterator whole before it sends a byte (a year's log
    would sit in the web process): every monitor export hands it an asynchronous one."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from portal import spreadsheets

    bar, _plays = log
    monkeypatch.setattr(spreadsheets, "LINES_PER_CHUNK", 2)

    async def fetch(url: str) -> tuple:
        client = AsyncClient()
        await client.aforce_login(monitor_user)
        response = await client.get(url)
        return response, [chunk async for chunk in response.streaming_content]

    month = "from=2026-03-01&to=2026-03-31"
    for url, lines in (
        (f"/monitors/{bar.pk}/log.csv?{month}", 1 + 3),  # the disputed play left out
        (f"/api/v1/monitors/{bar.pk}/log?{month}&format=csv", 1 + 3),
        (f"/monitors/{bar.pk}/detections.csv", 1 + 4),  # the detections list keeps the disputed one
    ):
        response, chunks = async_to_sync(fetch)(url)
        assert response.status_code == 200 and response.is_async, url
        body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)
        assert body.count(b"\r\n") == lines, url
        assert len(chunks) == (lines + 1) // 2, url  # 2 lines a chunk
