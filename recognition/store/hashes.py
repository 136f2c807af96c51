"""A track's hashes across both layouts: written, looked up and deleted together."""

from __future__ import annotations

import numpy as np
from django.db import connection

from recognition.engine import LookupRows, arrays
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET, Fingerprints, is_triplet
from recognition.store.pairs import PACKED_PAIR, pair_rows, write_pair_list
from recognition.store.triplets import triplet_rows, write_triplet_rows

__all__ = ["delete_track_hashes", "lookup", "write_track_hashes"]


def write_track_hashes(track_id: int, fingerprints: Fingerprints) -> int:
    """Store a track's hashes in the caller's transaction; return how many were stored.

    Offsets are rounded to whole frames; a (hash, frame) pair that rounding makes twice is
    stored once.
    """
    packed = arrays.distinct(
        (fingerprints.hashes.astype(np.int64) << 32) | np.rint(fingerprints.offsets).astype(np.int64)
    )
    hashes, frames = packed >> 32, packed & 0xFFFFFFFF
    triplet = is_triplet(hashes)
    with connection.cursor() as cursor:
        write_triplet_rows(cursor, track_id, hashes[triplet], frames[triplet])
        if not triplet.all():
            write_pair_list(cursor, track_id, hashes[~triplet], frames[~triplet])
    return int(packed.size)


def lookup(hashes: np.ndarray, tracks: np.ndarray | None = None, *, row_cap: int = MAX_ROWS_PER_TRIPLET) -> LookupRows:
    """Return every stored hash in `hashes` (and, given `tracks`, of those tracks only).

    Pairs are kept per track, so only a lookup in named tracks finds them; in every track, a
    lookup finds triplets, at most `row_cap` rows of each value (the earliest in their tracks).
    One round trip per kind asked for, after a cheap one that keeps the presence filter
    (recognition/store/presence.py) up to date.
    """
    wanted = arrays.distinct(np.asarray(hashes, dtype=np.int64))
    if wanted.size == 0 or (tracks is not None and len(tracks) == 0):
        return LookupRows.empty()
    triplet = is_triplet(wanted)
    triplets = wanted[triplet]
    if tracks is None:
        return triplet_rows(triplets, None, row_cap=row_cap)
    track_ids = arrays.distinct(np.asarray(tracks, dtype=np.int64))
    pairs = wanted[~triplet]
    found = [pair_rows(pairs, track_ids)] if pairs.size else []
    if triplets.size:
        found.append(triplet_rows(triplets, track_ids))
    return LookupRows.concatenate(found)


def delete_track_hashes(track_id: int) -> int:
    """Delete a track's hashes in one statement per layout, and its sketches (a replaced
    reference; deleting the track itself cascades in PostgreSQL); return how many hashes there
    were."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM recognition_framesketch WHERE track_id = %s", [track_id])
        cursor.execute("DELETE FROM recognition_fingerprint WHERE track_id = %s", [track_id])
        deleted = cursor.rowcount
        cursor.execute(
            "DELETE FROM recognition_pairlist WHERE track_id = %s RETURNING octet_length(packed)", [track_id]
        )
        return deleted + sum(length // PACKED_PAIR.itemsize for (length,) in cursor.fetchall())
