"""What a report covers: a date range, and optionally one track and one source, parsed from a query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "PLAY_SOURCES", "FilterError", "ReportFilters", "report_filters"]

DEFAULT_DAYS = 30
# A year and a day: the chart keeps a bar a day readable and the report stays one index range scan.
MAX_DAYS = 366
# Report sources of the play ledger, and the Recognition.Source each is stored as.
PLAY_SOURCES = {"listen": "microphone", "upload": "upload", "api": "api"}


class FilterError(ValueError):
    """A query parameter that does not make sense; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportFilters:
    """Plays heard from `start` (inclusive) to `end` (exclusive), UTC; of one track and one source
    (`listen`, `upload`, `api`, `monitor` for every monitor, `monitor:<id>` for one) when set."""

    start: dt.datetime
    end: dt.datetime
    track_id: int | None = None
    source: str = ""

    @property
    def monitor_id(self) -> int | None:
        return int(self.source.partition(":")[2]) if self.source.startswith("monitor:") else None

    @property
    def wants_monitors(self) -> bool:
        return self.source == "" or self.source.startswith("monitor")

    @property
    def wants_plays(self) -> bool:
        return self.source == "" or self.source in PLAY_SOURCES

    @property
    def first_day(self) -> dt.date:
        return timezone.localtime(self.start).date()

    @property
    def last_day(self) -> dt.date:
        return timezone.localtime(self.end - dt.timedelta(microseconds=1)).date()

    def days(self) -> list[dt.date]:
        """Every day of the range, in the site's time zone."""
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + dt.timedelta(days=n) for n in range(count)]


def _moment(raw: str, field: str, *, end: bool) -> dt.datetime:
    """A date (the whole day: its start, or the next day's start for an end) or a datetime (its
    instant; without a zone, the site's zone)."""
    try:
        day = parse_date(raw)
        if len(raw) > 6 and raw[-6] == " ":  # an unescaped "+00:00" arrives as " 00:00"
            raw = f"{raw[:-6]}+{raw[-5:]}"
        moment = None if day else parse_datetime(raw)
    except ValueError:
        day = moment = None
    if day is not None:
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        return start + dt.timedelta(days=1) if end else start
    if moment is None:
        raise FilterError(field, f"`{field}` is an ISO 8601 date (2026-12-01) or datetime (2026-12-01T18:00:00Z).")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment + dt.timedelta(microseconds=1) if end else moment


def report_filters(params: Mapping[str, str], *, now: dt.datetime | None = None) -> ReportFilters:
    """Parse `from`, `to`, `track` and `source`; raise FilterError for a value that does not parse.

    Both ends are inclusive: `to=2026-12-31` covers that whole day. Without `from` and `to`, the
    last 30 days up to today; a range spans at most 366 days.
    """
    today = timezone.localtime(now or timezone.now()).date()
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    end = _moment(raw_to, "to", end=True) if raw_to else _moment(today.isoformat(), "to", end=True)
    if raw_from:
        start = _moment(raw_from, "from", end=False)
    else:
        start = timezone.make_aware(
            dt.datetime.combine(timezone.localtime(end).date() - dt.timedelta(days=DEFAULT_DAYS), dt.time.min)
        )
    if start >= end:
        raise FilterError("from", "`from` comes after `to`.")
    if end - start > dt.timedelta(days=MAX_DAYS):
        raise FilterError("from", f"A report covers at most {MAX_DAYS} days.")
    raw_track = (params.get("track") or "").strip()
    track_id = None
    if raw_track:
        if not raw_track.isdigit() or len(raw_track) > 18:
            raise FilterError("track", "`track` is a track id.")
        track_id = int(raw_track)
    source = (params.get("source") or "").strip().lower()
    kind, _, monitor = source.partition(":")
    valid = source in ("", "monitor", *PLAY_SOURCES) or (kind == "monitor" and monitor.isdigit() and len(monitor) < 12)
    if not valid:
        raise FilterError("source", "`source` is listen, upload, api, monitor, or monitor:<id>.")
    return ReportFilters(start=start, end=end, track_id=track_id, source=source)
