"""The report's one statement: scoped to the owner's tracks, disputed detections left out, filters."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Role
from recognition.reports.filters import FilterError, report_filters
from recognition.reports.selectors import plays_report
from tests.recognition.reports.conftest import DAY

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def _rows(report):
    return {(r.title, r.source_name): (r.plays, r.played_s) for r in report.rows}


@pytest.mark.django_db
def test_a_rights_holder_sees_only_their_tracks_without_disputed_plays(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        report = plays_report(world.holder_a, report_filters(NOVEMBER))
    assert _rows(report) == {
        ("Harbour Lights", "Radio One"): (2, 300.0),  # 180 s + 120 s; the disputed 200 s is left out
        ("Harbour Lights", "Listens"): (1, 6.5),
        ("Harbour Lights", "API"): (1, 8.0),
        ("Copper Sky", "Uploads"): (2, 75.0),
    }
    radio = next(r for r in report.rows if r.source.startswith("monitor:"))
    assert radio.source == f"monitor:{world.radio.pk}" and radio.artist == "Ada, The Examples"
    assert radio.first_heard_at == DAY + dt.timedelta(hours=9)
    assert radio.last_heard_at == DAY + dt.timedelta(days=1, hours=8)
    top = report.tracks()
    assert [(t.title, t.plays) for t in top] == [("Harbour Lights", 4), ("Copper Sky", 2)]
    by_day = {(d.day.isoformat(), d.source_name): d.plays for d in report.days}
    assert by_day == {
        ("2026-11-10", "Radio One"): 1, ("2026-11-10", "Listens"): 1, ("2026-11-10", "Uploads"): 1,
        ("2026-11-11", "Radio One"): 1, ("2026-11-12", "API"): 1, ("2026-11-13", "Uploads"): 1,
    }  # fmt: skip
    assert report.plays == 6


@pytest.mark.django_db
def test_staff_see_every_track_and_others_see_nothing(world, make_user):
    staff = plays_report(make_user(Role.STAFF), report_filters(NOVEMBER))
    assert ("Other Label Song", "Radio One") in _rows(staff) and ("Other Label Song", "Uploads") in _rows(staff)
    assert {r.title for r in plays_report(world.holder_b, report_filters(NOVEMBER)).rows} == {"Other Label Song"}
    assert plays_report(world.monitor_owner, report_filters(NOVEMBER)).rows == []
    assert plays_report(world.listener, report_filters(NOVEMBER)).rows == []


@pytest.mark.django_db
def test_filters_by_source_track_and_time(world):
    def titles_and_sources(**extra):
        return set(_rows(plays_report(world.holder_a, report_filters({**NOVEMBER, **extra}))))

    assert titles_and_sources(source="upload") == {("Copper Sky", "Uploads")}
    assert titles_and_sources(source="monitor") == {("Harbour Lights", "Radio One")}
    assert titles_and_sources(source=f"monitor:{world.radio.pk}") == {("Harbour Lights", "Radio One")}
    assert titles_and_sources(source="monitor:999999") == set()
    assert titles_and_sources(track=str(world.t2.pk)) == {("Copper Sky", "Uploads")}
    one_day = titles_and_sources(**{"from": "2026-11-11", "to": "2026-11-11"})
    assert one_day == {("Harbour Lights", "Radio One")}
    morning = titles_and_sources(**{"from": "2026-11-10T08:00:00Z", "to": "2026-11-10T09:00:00+00:00"})
    assert morning == {("Harbour Lights", "Radio One")}  # `to` includes its instant
    long_ago = plays_report(world.holder_a, report_filters({"from": "2026-09-25", "to": "2026-10-05"}))
    assert _rows(long_ago) == {("Harbour Lights", "Radio One"): (1, 100.0)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-01"}, "from"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
        ({"track": "x1"}, "track"),
        ({"source": "radio"}, "source"),
        ({"source": "monitor:x"}, "source"),
    ],
)
def test_filters_that_do_not_parse_name_their_field(params, field):
    with pytest.raises(FilterError) as error:
        report_filters(params)
    assert error.value.field == field


def test_the_default_range_is_the_last_30_days():
    now = dt.datetime(2026, 12, 6, 15, 0, tzinfo=dt.UTC)
    filters = report_filters({}, now=now)
    assert (filters.first_day.isoformat(), filters.last_day.isoformat()) == ("2026-11-07", "2026-12-06")
    assert len(filters.days()) == 30
