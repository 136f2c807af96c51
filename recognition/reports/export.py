"""The report as CSV: one line per track and source, the columns of the API's rows."""

from __future__ import annotations

import csv
import io

from portal.spreadsheets import spreadsheet_cell
from recognition.reports.selectors import PlaysReport

__all__ = ["CSV_FIELDS", "report_csv", "report_json_rows"]

CSV_FIELDS = ["track_id", "title", "artist", "source", "source_name", "plays", "played_s", "first_heard_at",
              "last_heard_at"]  # fmt: skip


def report_json_rows(report: PlaysReport) -> list[dict]:
    """The rows as the API returns them."""
    return [
        {
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
        for row in report.rows
    ]


def report_csv(report: PlaysReport) -> str:
    """The header, then one line per row (a report has a row per track and source: it fits)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    for row in report_json_rows(report):
        for name in ("title", "artist", "source_name"):
            row[name] = spreadsheet_cell(row[name])
        writer.writerow([row[name] for name in CSV_FIELDS])
    return buffer.getvalue()
