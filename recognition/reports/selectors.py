"""Reads of the reports: where a rights holder's tracks were heard, in one aggregate statement.

Two ledgers say where a track was heard: monitor detections (recognition/monitors/models.py;
disputed ones are left out) and plays of recognitions (recognition.models.Play). The report
reads both in one SQL statement: a UNION ALL of the two, each side a range scan of its
(track, time) index, grouped twice at once (GROUPING SETS): by track and source for the table,
by day and source for the chart. The page reads less of it: each track's totals and the
chart's counts (SUMMARY_SQL), then the rows of the tracks it lists (REPORT_SQL of those
tracks); exports read every row in order through a server-side cursor (ROWS_SQL). A rights
holder's report reads only their tracks (joined on catalog_track.owner_id); staff read all.
What a report shows of a monitor is its id and name; of a recognition, its time, length and
kind: never who listened, uploaded or runs the monitor.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from catalog.models import Track
from recognition.models import Play
from recognition.reports.filters import PLAY_SOURCES, ReportFilters

__all__ = [
    "REPORT_SQL",
    "ROWS_SQL",
    "SUMMARY_SQL",
    "DayCount",
    "PlaysReport",
    "ReportRow",
    "ReportSummary",
    "TrackTotal",
    "play_times",
    "plays_report",
    "report_params",
    "report_rows",
    "report_summary",
    "report_tracks",
    "reports_allowed",
    "source_label",
    "track_artists",
]

_PLAY_SOURCE_NAMES = {stored: name for name, stored in PLAY_SOURCES.items()}
_LABELS = {"listen": "Listens", "upload": "Uploads", "api": "API"}


def reports_allowed(user) -> bool:
    """Rights holders (their own tracks), staff and superusers (every track) read reports."""
    return bool(user.is_authenticated and user.manages_catalog)


def report_tracks(user) -> QuerySet[Track]:
    """The tracks a user's reports cover: their own, or every track for staff."""
    if not reports_allowed(user):
        return Track.objects.none()
    return Track.objects.all() if user.sees_whole_catalog else Track.objects.filter(owner=user)


def source_label(source: str, monitor_name: str = "") -> str:
    return monitor_name if source.startswith("monitor:") else _LABELS.get(source, source)


@dataclass(frozen=True)
class ReportRow:
    """One track heard from one source: a monitor (`monitor:<id>`), `upload`, `api` or `listen`."""

    track_id: int
    title: str
    artist: str
    source: str
    source_name: str
    monitor_id: int | None
    plays: int
    played_s: float
    first_heard_at: dt.datetime
    last_heard_at: dt.datetime


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    source: str
    source_name: str
    plays: int


@dataclass
class TrackTotal:
    """One track over every source of the report."""

    track_id: int
    title: str
    artist: str
    plays: int = 0
    played_s: float = 0.0
    first_heard_at: dt.datetime | None = None
    last_heard_at: dt.datetime | None = None
    rows: list[ReportRow] = field(default_factory=list)


def _by_source(counts: Iterable[ReportRow] | Iterable[DayCount]) -> list[tuple[str, str, int]]:
    """(source, name, plays) summed over `counts`, most plays first."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for count in counts:
        totals[count.source, count.source_name] += count.plays
    return sorted(((s, n, p) for (s, n), p in totals.items()), key=lambda t: (-t[2], t[1]))


@dataclass(frozen=True)
class PlaysReport:
    """A report: rows by track and source (most plays first), and plays per day by source."""

    filters: ReportFilters
    rows: list[ReportRow]
    days: list[DayCount]

    @property
    def plays(self) -> int:
        return sum(row.plays for row in self.rows)

    @property
    def played_s(self) -> float:
        return sum(row.played_s for row in self.rows)

    def sources(self) -> list[tuple[str, str, int]]:
        """(source, name, plays) of each source in the report, most plays first."""
        return _by_source(self.rows)

    def tracks(self) -> list[TrackTotal]:
        """Each track's totals over its sources, most plays first (the top tracks)."""
        found: dict[int, TrackTotal] = {}
        for row in self.rows:
            total = found.setdefault(row.track_id, TrackTotal(row.track_id, row.title, row.artist))
            total.plays += row.plays
            total.played_s += row.played_s
            total.first_heard_at = min(filter(None, (total.first_heard_at, row.first_heard_at)))
            total.last_heard_at = max(filter(None, (total.last_heard_at, row.last_heard_at)))
            total.rows.append(row)
        return sorted(found.values(), key=lambda t: (-t.plays, t.title.lower(), t.track_id))


@dataclass(frozen=True)
class ReportSummary:
    """What a page shows of a whole report: each track's totals (most plays first, without their
    rows) and plays per day by source. Totals are the database's sums over every play."""

    filters: ReportFilters
    tracks: list[TrackTotal]
    days: list[DayCount]

    @property
    def plays(self) -> int:
        return sum(track.plays for track in self.tracks)

    @property
    def played_s(self) -> float:
        return sum(track.played_s for track in self.tracks)

    def sources(self) -> list[tuple[str, str, int]]:
        """(source, name, plays) of each source in the report, most plays first."""
        return _by_source(self.days)


# The plays of a report, one row a play: both ledgers in the range, of the user's tracks. Its
# text is fixed; filters arrive as parameters, and psycopg2 sends them as literals, so PostgreSQL
# folds a filter left out (`NULL IS NULL OR ...`) or a side left out (`false AND ...`) away before
# planning: each side stays a range scan of its index. The statements below are composed of
# this text and _ARTISTS only (hence their noqa and nosec): every value is a parameter.
_HEARD = """
WITH heard AS (
    SELECT heard.track_id, 'monitor' AS kind, heard.monitor_id, heard.started_at AS heard_at,
           EXTRACT(EPOCH FROM heard.ended_at - heard.started_at)::float8 AS played_s
    FROM monitors_detection heard JOIN catalog_track owned ON owned.id = heard.track_id
    WHERE %(monitors)s AND NOT heard.disputed
      AND heard.started_at >= %(start)s AND heard.started_at < %(end)s
      AND (%(monitor)s::bigint IS NULL OR heard.monitor_id = %(monitor)s)
      AND (%(track)s::bigint IS NULL OR heard.track_id = %(track)s)
      AND (%(tracks)s::bigint[] IS NULL OR heard.track_id = ANY(%(tracks)s::bigint[]))
      AND (%(owner)s::bigint IS NULL OR owned.owner_id = %(owner)s)
    UNION ALL
    SELECT heard.track_id, heard.source AS kind, NULL::bigint AS monitor_id, heard.heard_at, heard.played_s
    FROM recognition_play heard JOIN catalog_track owned ON owned.id = heard.track_id
    WHERE %(plays)s AND heard.heard_at >= %(start)s AND heard.heard_at < %(end)s
      AND (%(play_source)s::text IS NULL OR heard.source = %(play_source)s)
      AND (%(track)s::bigint IS NULL OR heard.track_id = %(track)s)
      AND (%(tracks)s::bigint[] IS NULL OR heard.track_id = ANY(%(tracks)s::bigint[]))
      AND (%(owner)s::bigint IS NULL OR owned.owner_id = %(owner)s)
)"""
_ARTISTS = """(SELECT string_agg(artist.name, ', ' ORDER BY artist.name)
          FROM catalog_track_artists credit JOIN catalog_artist artist ON artist.id = credit.artist_id
         WHERE credit.track_id = track.id)"""

# The one statement of a report (the API's rows and chart): the plays grouped twice at once
# (GROUPING SETS), by track and source for the table, by day and source for the chart.
REPORT_SQL = f"""{_HEARD},
grouped AS (
    SELECT GROUPING(track_id) AS by_day, track_id, kind, monitor_id, day, count(*) AS plays,
           sum(played_s) AS played_s, min(heard_at) AS first_at, max(heard_at) AS last_at
    FROM (SELECT *, (heard_at AT TIME ZONE %(zone)s)::date AS day FROM heard) dated
    GROUP BY GROUPING SETS ((track_id, kind, monitor_id), (day, kind, monitor_id))
)
SELECT grouped.by_day, grouped.track_id, grouped.kind, grouped.monitor_id, grouped.day, grouped.plays,
       grouped.played_s, grouped.first_at, grouped.last_at, track.title,
       {_ARTISTS} AS artist,
       monitor.name
FROM grouped
LEFT JOIN catalog_track track ON track.id = grouped.track_id
LEFT JOIN monitors_monitor monitor ON monitor.id = grouped.monitor_id
"""  # noqa: S608  # nosec B608

# What the page needs of a whole report: each track's totals (a row a track, not a row a track
# and source: a staff month holds 10^4 tracks but 10^5-10^6 track-source rows) and the chart's
# plays per day and source. The rows of the tracks on one page come from REPORT_SQL with `tracks`.
SUMMARY_SQL = f"""{_HEARD},
grouped AS (
    SELECT GROUPING(track_id) AS by_day, track_id, kind, monitor_id, day, count(*) AS plays,
           sum(played_s) AS played_s, min(heard_at) AS first_at, max(heard_at) AS last_at
    FROM (SELECT *, (heard_at AT TIME ZONE %(zone)s)::date AS day FROM heard) dated
    GROUP BY GROUPING SETS ((track_id), (day, kind, monitor_id))
)
SELECT grouped.by_day, grouped.track_id, grouped.kind, grouped.monitor_id, grouped.day, grouped.plays,
       grouped.played_s, grouped.first_at, grouped.last_at, track.title, monitor.name
FROM grouped
LEFT JOIN catalog_track track ON track.id = grouped.track_id
LEFT JOIN monitors_monitor monitor ON monitor.id = grouped.monitor_id
"""  # noqa: S608  # nosec B608

# Every row of a report in the order of `PlaysReport.rows` (most plays first, then the title
# lowered, the track and the source; COLLATE "C" compares UTF-8 bytes, which sort as Python's
# code points), for exports read in chunks through a server-side cursor.
ROWS_SQL = f"""{_HEARD},
grouped AS (
    SELECT track_id, kind, monitor_id, count(*) AS plays, sum(played_s) AS played_s,
           min(heard_at) AS first_at, max(heard_at) AS last_at,
           CASE WHEN kind = 'monitor' THEN 'monitor:' || monitor_id
                WHEN kind = 'microphone' THEN 'listen' ELSE kind END AS source
    FROM heard GROUP BY track_id, kind, monitor_id
)
SELECT grouped.track_id, grouped.kind, grouped.monitor_id, grouped.plays, grouped.played_s, grouped.first_at,
       grouped.last_at, track.title, {_ARTISTS} AS artist, monitor.name
FROM grouped
LEFT JOIN catalog_track track ON track.id = grouped.track_id
LEFT JOIN monitors_monitor monitor ON monitor.id = grouped.monitor_id
ORDER BY grouped.plays DESC, lower(coalesce(track.title, '')) COLLATE "C", grouped.track_id,
         grouped.source COLLATE "C"
"""  # noqa: S608  # nosec B608


def report_params(user, filters: ReportFilters, *, track_ids: list[int] | None = None) -> dict:
    """The parameters of REPORT_SQL (SUMMARY_SQL, ROWS_SQL) for `user`'s report within `filters`,
    of the tracks `track_ids` only when given."""
    return {
        "start": filters.start,
        "end": filters.end,
        "zone": settings.TIME_ZONE,
        "owner": None if user.sees_whole_catalog else user.pk,
        "track": filters.track_id,
        "monitors": filters.wants_monitors,
        "monitor": filters.monitor_id,
        "plays": filters.wants_plays,
        "play_source": PLAY_SOURCES.get(filters.source),
        "tracks": None if track_ids is None else [int(pk) for pk in track_ids],
    }


def _source(kind: str, monitor_id: int | None) -> str:
    return f"monitor:{monitor_id}" if kind == "monitor" else _PLAY_SOURCE_NAMES.get(kind, kind)


def _row(found: tuple) -> ReportRow:
    """A ReportRow from a row of REPORT_SQL or ROWS_SQL: (track_id, kind, monitor_id, plays, played_s,
    first_at, last_at, title, artist, name)."""
    track_id, kind, monitor_id, plays, played_s, first_at, last_at, title, artist, name = found
    source = _source(kind, monitor_id)
    return ReportRow(
        track_id, title or "", artist or "", source, source_label(source, name or ""), monitor_id, plays,
        round(played_s or 0.0, 2), first_at, last_at,
    )  # fmt: skip


def plays_report(user, filters: ReportFilters, *, track_ids: list[int] | None = None) -> PlaysReport:
    """Where `user`'s tracks (every track, for staff) were heard within `filters`: one statement.
    With `track_ids`, of those tracks only (the rows of one page of the report).

    The caller checks `reports_allowed(user)` and that a filtered track is in `report_tracks(user)`.
    """
    if not reports_allowed(user) or track_ids == []:
        return PlaysReport(filters, [], [])
    with connection.cursor() as cursor:
        cursor.execute(REPORT_SQL, report_params(user, filters, track_ids=track_ids))
        found = cursor.fetchall()
    rows, days = [], []
    for by_day, track_id, kind, monitor_id, day, plays, played_s, first_at, last_at, title, artist, name in found:
        if by_day:
            source = _source(kind, monitor_id)
            days.append(DayCount(day, source, source_label(source, name or ""), plays))
        else:
            rows.append(_row((track_id, kind, monitor_id, plays, played_s, first_at, last_at, title, artist, name)))
    rows.sort(key=lambda r: (-r.plays, r.title.lower(), r.track_id, r.source))
    days.sort(key=lambda d: (d.day, d.source))
    return PlaysReport(filters, rows, days)


def report_summary(user, filters: ReportFilters) -> ReportSummary:
    """Each track's totals and the plays per day by source of `user`'s report within `filters`:
    what the page shows of the whole report, in one statement (see `plays_report` for the caller's
    checks)."""
    if not reports_allowed(user):
        return ReportSummary(filters, [], [])
    with connection.cursor() as cursor:
        cursor.execute(SUMMARY_SQL, report_params(user, filters))
        found = cursor.fetchall()
    tracks, days = [], []
    for by_day, track_id, kind, monitor_id, day, plays, played_s, first_at, last_at, title, name in found:
        if by_day:
            source = _source(kind, monitor_id)
            days.append(DayCount(day, source, source_label(source, name or ""), plays))
        else:
            tracks.append(TrackTotal(track_id, title or "", "", plays, played_s or 0.0, first_at, last_at))
    tracks.sort(key=lambda t: (-t.plays, t.title.lower(), t.track_id))
    days.sort(key=lambda d: (d.day, d.source))
    return ReportSummary(filters, tracks, days)


def track_artists(track_ids: list[int]) -> dict[int, str]:
    """The credited artists of each track, as the report's rows name them ("Ada, The Examples")."""
    if not track_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credit.track_id, string_agg(artist.name, ', ' ORDER BY artist.name) "
            "FROM catalog_track_artists credit JOIN catalog_artist artist ON artist.id = credit.artist_id "
            "WHERE credit.track_id = ANY(%s) GROUP BY credit.track_id",
            [sorted(set(track_ids))],
        )
        return dict(cursor.fetchall())


def report_rows(user, filters: ReportFilters, *, chunk_size: int = 2000) -> Iterator[ReportRow]:
    """Every row of `user`'s report within `filters`, in the order of `plays_report(...).rows`,
    read `chunk_size` rows at a time through a server-side cursor (an export of a staff month
    holds 10^5-10^6 rows; see `plays_report` for the caller's checks)."""
    if not reports_allowed(user):
        return
    with connection.chunked_cursor() as cursor:
        cursor.execute(ROWS_SQL, report_params(user, filters))
        while chunk := cursor.fetchmany(chunk_size):
            for found in chunk:
                yield _row(found)


def play_times(user, filters: ReportFilters) -> QuerySet[Play]:
    """The plays of one track from one kind of recognition (`listen`, `upload`, `api`), oldest
    first: when, how long, where in the track and how it was changed; nothing about who."""
    if filters.track_id is None or filters.source not in PLAY_SOURCES:
        return Play.objects.none()
    return (
        Play.objects.filter(
            track__in=report_tracks(user),
            track_id=filters.track_id,
            source=PLAY_SOURCES[filters.source],
            heard_at__gte=filters.start,
            heard_at__lt=filters.end,
        )
        .only("id", "heard_at", "played_s", "start_s", "offset_s", "source", "speed", "pitch_semitones")
        .order_by("heard_at", "id")
    )
