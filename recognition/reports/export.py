"""The report as CSV: one line per track and source, the columns of the API's rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from portal.spreadsheets import csv_line_writer, spreadsheet_cell
from recognition.reports.selectors import PlaysReport, ReportRow

__all__ = ["CSV_FIELDS", "report_csv", "report_csv_lines", "report_json_lines", "report_json_rows"]

CSV_FIELDS = ["track_id", "title", "artist", "source", "source_name", "plays", "played_s", "first_heard_at",
              "last_heard_at"]  # fmt: skip


def _json_row(row: ReportRow) -> dict:
    return {
        "track_id": row.track_id,
        "title": row.title,
        "artist": row.artist,
        "source": row.source,
        "source_name": row.source_name,
        "plays": row.plays,
        "played_s": row.played_s,
        "first_heard_at": row.first_heard_at.isoformat(),
        "last_heard_at": row.last_heard_at.isoformat(),
    }


def report_json_rows(report: PlaysReport) -> list[dict]:
    """The rows as the API returns them."""
    return [_json_row(row) for row in report.rows]


def report_json_lines(rows: Iterable[ReportRow]) -> Iterator[str]:
    """The API's JSON body, `{"results": [...], "count": n}`, a row at a time as it is read (a
    staff month holds 10^5-10^6 rows); the count comes last, known only once every row is out.
    Written as DRF's renderer writes it: compact, not ASCII-escaped."""
    yield '{"results":['
    count = 0
    for row in rows:
        yield ("," if count else "") + json.dumps(_json_row(row), ensure_ascii=False, separators=(",", ":"))
        count += 1
    yield f'],"count":{count}}}'


def report_csv_lines(rows: Iterable[ReportRow]) -> Iterator[str]:
    """The header, then one line per row, each as it is read (a staff month's export holds
    10^5-10^6 rows: it streams rather than fill a buffer)."""
    writer = csv_line_writer()
    yield writer.writerow(CSV_FIELDS)
    for row in rows:  # the columns of CSV_FIELDS, as `_json_row` has them
        yield writer.writerow((
            row.track_id, spreadsheet_cell(row.title), spreadsheet_cell(row.artist), row.source,
            spreadsheet_cell(row.source_name), row.plays, row.played_s, row.first_heard_at.isoformat(),
            row.last_heard_at.isoformat(),
        ))  # fmt: skip


def report_csv(report: PlaysReport) -> str:
    """The whole CSV of a report already read, as one string."""
    return "".join(report_csv_lines(report.rows))
