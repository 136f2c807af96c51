"""The `from`/`to` of the detection pages, the play log and their API: dates or datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils.dateparse import parse_date, parse_datetime

__all__ = ["Period", "PeriodInvalid", "period_parse"]


class PeriodInvalid(ValueError):
    """A `from` or `to` that is neither a date (YYYY-MM-DD) nor an ISO 8601 datetime with a zone."""


@dataclass(frozen=True)
class Period:
    """Detections started at or after `start` and before `end` (UTC); None is open-ended."""

    start: datetime | None
    end: datetime | None

    def first_day(self) -> date | None:
        return self.start.date() if self.start else None

    def last_day(self) -> date | None:
        """The last day the period touches (what a form shows as its "to")."""
        return (self.end - timedelta(microseconds=1)).date() if self.end else None


def _bound(name: str, text: str, *, end: bool) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    if len(text) > 6 and text[-6] == " ":  # an unescaped "+00:00" arrives as " 00:00"
        text = f"{text[:-6]}+{text[-5:]}"
    try:
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        day = moment = None
    if day is not None:
        # A date is a whole UTC day: `to=2026-12-06` includes the 6th.
        return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=UTC)
    if moment is None or moment.tzinfo is None:
        raise PeriodInvalid(f"`{name}` is a date (YYYY-MM-DD) or an ISO 8601 time with a zone (…Z or +00:00).")
    return moment.astimezone(UTC)


def period_parse(start: str = "", end: str = "", *, default_days: int | None = None) -> Period:
    """The period `from`=`start`, `to`=`end` names; with `default_days` and neither given, the last
    that many UTC days up to today."""
    period = Period(_bound("from", start, end=False), _bound("to", end, end=True))
    if period.start and period.end and period.end <= period.start:
        raise PeriodInvalid("`to` is before `from`.")
    if default_days and period.start is None and period.end is None:
        today = datetime.now(UTC).date()
        period = Period(
            datetime.combine(today - timedelta(days=default_days - 1), time.min, tzinfo=UTC),
            datetime.combine(today + timedelta(days=1), time.min, tzinfo=UTC),
        )
    return period
