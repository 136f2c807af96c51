"""Files served in byte ranges, so a browser's audio or video element can seek in stored media.

A media element asks for `Range: bytes=N-` whenever it seeks; without 206 answers it can only
play from the start. One range per request (what media elements send); a request for several is
answered with the whole file, which RFC 9110 allows. The body is read a block at a time, by an
asynchronous iterator under ASGI: Django would read a synchronous one whole into memory before
Daphne sends a byte (and the WSGI handler the same of an asynchronous one).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

__all__ = ["BLOCK_BYTES", "RangeNotSatisfiable", "parse_range", "ranged_file_response"]

BLOCK_BYTES = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ValueError):
    """The range asked for lies wholly past the end of the file (answered 416)."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Return the inclusive (first, last) byte of a one-range `Range` header for a file of `size`
    bytes, or None when the header asks for no single valid range (serve the whole file); raise
    RangeNotSatisfiable when the range starts past the end."""
    match = _RANGE.match(header.strip().replace(" ", ""))
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        length = int(last)
        if not length or not size:
            raise RangeNotSatisfiable(header)
        return max(0, size - length), size - 1
    start = int(first)
    if start >= size:
        raise RangeNotSatisfiable(header)
    end = min(int(last), size - 1) if last else size - 1
    return (start, end) if end >= start else None


def _blocks(path: str, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            block = handle.read(min(BLOCK_BYTES, left))
            if not block:
                break
            left -= len(block)
            yield block


def _open_binary(path: str) -> BinaryIO:
    return open(path, "rb")  # closed by the caller


async def _async_blocks(path: str, start: int, length: int) -> AsyncIterator[bytes]:
    handle = await sync_to_async(_open_binary, thread_sensitive=False)(path)
    try:
        await sync_to_async(handle.seek, thread_sensitive=False)(start)
        left = length
        while left > 0:
            block = await sync_to_async(handle.read, thread_sensitive=False)(min(BLOCK_BYTES, left))
            if not block:
                break
            left -= len(block)
            yield block
    finally:
        handle.close()


def ranged_file_response(
    request: HttpRequest, path: str | os.PathLike, *, content_type: str
) -> HttpResponse | StreamingHttpResponse:
    """The file at `path`, whole (200) or the one byte range the request asks for (206, or 416)."""
    size = os.path.getsize(path)
    try:
        wanted = parse_range(request.headers.get("Range", ""), size)
    except RangeNotSatisfiable:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    start, end = wanted or (0, size - 1)
    length = max(0, end - start + 1)
    blocks = _async_blocks if isinstance(request, ASGIRequest) else _blocks
    response = StreamingHttpResponse(
        blocks(str(path), start, length), status=206 if wanted else 200, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response
