"""PostgreSQL's binary COPY format and array literals: how the store's numpy arrays cross the wire.

COPY moves rows faster than anything else PostgreSQL speaks (no per-row statement, no text
parsing), and its binary rows map straight onto a numpy structured dtype.
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["TRIPLET_ROW", "array_literal", "copy_body", "copy_payload"]

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


def array_literal(values: np.ndarray) -> str:
    """An integer array as one PostgreSQL array literal: COPY takes no bind parameters, and
    psycopg2's quoting of thousands of integers one by one costs more than the lookup."""
    return "{" + ",".join(map(str, values.tolist())) + "}"
