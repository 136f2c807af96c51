"""CSV exports that spreadsheets open safely: text that would run as a formula is defused, and
lines are produced one at a time so a long export streams instead of filling a buffer."""

from __future__ import annotations

import csv

__all__ = ["csv_line_writer", "spreadsheet_cell"]

# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (titles and names come from users)."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_line_writer():
    """A csv.writer whose `writerow` returns the line instead of writing it somewhere."""
    return csv.writer(_Echo())
