"""Frame sketches (recognition/engine/sketch/): one value per track, read a slice at a time.

One little-endian uint16 a frame, out of line and uncompressed (migration 0007), so that
substring() reads only the TOAST chunks of the slice asked for: a check reads a few hundred
bytes of each track it looks at, however long the track.
"""

from __future__ import annotations

import numpy as np
from django.db import connection

from recognition.store.copy_format import array_literal

__all__ = ["SKETCH_TABLE", "sketch_slices", "write_track_sketch"]

SKETCH_TABLE = "recognition_framesketch"

_SKETCH_DTYPE = np.dtype("<u2")
# One row back for all slices: their request numbers, lengths and bytes end to end. A row per
# slice, and psycopg2's adaptation of Python lists, cost several times the statement itself for
# the hundreds of slices a 1 s clip asks for.
_SKETCH_SLICES_SQL = (
    "SELECT array_agg(h.row ORDER BY h.row), array_agg(octet_length(x.part) ORDER BY h.row), "
    "string_agg(x.part, ''::bytea ORDER BY h.row) "
    "FROM unnest(%s::int4[], %s::int8[], %s::int4[], %s::int4[]) AS h(row, track_id, first, frames) "
    "JOIN recognition_framesketch AS s ON s.track_id = h.track_id "
    "CROSS JOIN LATERAL (SELECT substring(s.frames FROM h.first * 2 + 1 FOR h.frames * 2) AS part) AS x"
)


def write_track_sketch(track_id: int, frames: np.ndarray) -> None:
    """Store a track's frame sketches in the caller's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recognition_framesketch (track_id, frames) VALUES (%s, %s)",
            [track_id, np.asarray(frames).astype(_SKETCH_DTYPE).tobytes()],
        )


def sketch_slices(track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Each track's sketches from its first frame on, `n_frames` of them, in one round trip:
    uint16 (tracks, n_frames), 0 where the track has no frame (before its start, past its end,
    no sketch stored)."""
    first = np.asarray(first_frames, np.int64)
    out = np.zeros((first.size, n_frames), np.uint16)
    skip = np.clip(-first, 0, n_frames)  # frames before the track's start
    wanted = np.flatnonzero(skip < n_frames)
    if wanted.size == 0:
        return out
    with connection.cursor() as cursor:
        cursor.execute(
            _SKETCH_SLICES_SQL,
            [
                array_literal(wanted),
                array_literal(np.asarray(track_ids, np.int64)[wanted]),
                array_literal(first[wanted] + skip[wanted]),
                array_literal(n_frames - skip[wanted]),
            ],
        )
        rows, lengths, data = cursor.fetchone()
    if not rows:
        return out
    frames = np.frombuffer(bytes(data), _SKETCH_DTYPE)
    ends = np.cumsum(np.asarray(lengths, np.int64) // 2)
    for row, end, count in zip(rows, ends.tolist(), (np.asarray(lengths) // 2).tolist(), strict=True):
        out[row, skip[row] : skip[row] + count] = frames[end - count : end]
    return out
