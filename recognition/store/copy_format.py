"""PostgreSQL's binary COPY format and array literals: how the store's numpy arrays cross the wire.

COPY moves rows faster than anything else PostgreSQL speaks (no per-row statement, no text
parsing), and its binary rows map straight onto a numpy structured dtype.
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["TRIPLET_ROW", "array_literal", "copy_body", "copy_out", "copy_payload", "id_and_bytes_rows"]

_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)

# One binary COPY row of recognition_fingerprint: field count, then (length, value) for hash,
# offset_frames, track_id.
TRIPLET_ROW = np.dtype([
    ("fields", ">i2"),
    ("hash_len", ">i4"), ("hash", ">i4"),
    ("offset_len", ">i4"), ("offset", ">i4"),
    ("track_len", ">i4"), ("track", ">i8"),
])  # fmt: skip


def copy_payload(rows: bytes) -> io.BytesIO:
    """Rows in COPY's binary format, framed by its header and trailer, ready for COPY FROM STDIN."""
    return io.BytesIO(_COPY_SIGNATURE + rows + _COPY_TRAILER)


def copy_body(buffer: io.BytesIO) -> memoryview:
    """The rows of a binary COPY's output, without its header and trailer."""
    data = buffer.getbuffer()
    return data[len(_COPY_SIGNATURE) : len(data) - len(_COPY_TRAILER)]


def copy_out(cursor, sql: str, params: list) -> io.BytesIO:
    """The output of a `COPY (...) TO STDOUT` statement, its parameters bound by the driver
    first (COPY itself takes no bind parameters)."""
    buffer = io.BytesIO()
    cursor.cursor.copy_expert(cursor.cursor.mogrify(sql, params).decode(), buffer)
    return buffer


# The start of one binary COPY row of (int8, bytea): field count, the id's length and value, the
# bytes' length; the bytes follow.
_ID_AND_BYTES_HEAD = struct.Struct(">hiqi")


def id_and_bytes_rows(buffer: io.BytesIO) -> list[tuple[int, memoryview]]:
    """The (id, bytes) rows of a binary COPY of an int8 and a non-null bytea column. Bytes come
    back raw, where a plain SELECT sends bytea as hex text, twice its size, for the driver to
    decode."""
    body = copy_body(buffer)
    rows, at = [], 0
    while at < len(body):
        fields, id_length, row_id, size = _ID_AND_BYTES_HEAD.unpack_from(body, at)
        if (fields, id_length) != (2, 8) or size < 0:
            raise ValueError("expected binary COPY rows of an int8 and a non-null bytea")
        at += _ID_AND_BYTES_HEAD.size
        rows.append((row_id, body[at : at + size]))
        at += size
    return rows


def array_literal(values: np.ndarray) -> str:
    """An integer array as one PostgreSQL array literal: COPY takes no bind parameters, and
    psycopg2's quoting of thousands of integers one by one costs more than the lookup."""
    return "{" + ",".join(map(str, values.tolist())) + "}"
