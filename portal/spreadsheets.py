"""CSV exports that spreadsheets open safely: text that would run as a formula is defused, and
lines are produced one at a time so a long export streams instead of filling a buffer."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest

__all__ = ["csv_line_writer", "spreadsheet_cell", "streamed_lines"]

# Lines handed to the server at once: one chunk of ~100 KB rather than one a line.
LINES_PER_CHUNK = 1000

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


def _joined(lines: Iterator[str]) -> Iterator[str]:
    try:
        while chunk := "".join(islice(lines, LINES_PER_CHUNK)):
            yield chunk
    finally:
        close = getattr(lines, "close", None)
        if close is not None:  # a client gone early: end the generator (and its cursor) now
            close()


def streamed_lines(request: HttpRequest, lines: Iterator[str]) -> Iterator[str] | AsyncIterator[str]:
    """`lines` as a StreamingHttpResponse's content that streams whoever serves the request.

    Django's ASGI handler (Daphne) reads a synchronous iterator to its end before it sends a
    byte, so under ASGI the lines are pulled LINES_PER_CHUNK at a time through `sync_to_async`
    (thread-sensitive: on the request's thread, whose database connection holds the export's
    cursor) by an asynchronous iterator; under WSGI and the test client they are joined as many
    at a time (a chunk a line cost the server a write, and the response a `make_bytes`, a line).
    """
    if not isinstance(request, ASGIRequest):
        return _joined(lines)

    async def pulled() -> AsyncIterator[str]:
        take = sync_to_async(lambda: "".join(islice(lines, LINES_PER_CHUNK)), thread_sensitive=True)
        try:
            while chunk := await take():
                yield chunk
        finally:
            close = getattr(lines, "close", None)
            if close is not None:  # a client gone early: end the generator (and its cursor) on its thread
                await sync_to_async(close, thread_sensitive=True)()

    return pulled()
