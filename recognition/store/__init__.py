"""The one place that knows how hashes are stored and speaks their bulk SQL.

Two layouts, one per kind of hash (recognition/engine/fingerprint/), each shaped by how it is read:

* triplets.py: triplets are searched in every track (stage 1 of a lookup), so they are rows of
  recognition_fingerprint indexed by hash, moved in and out with binary COPY (copy_format.py);
  presence.py keeps the per-process filter that skips values no track holds;
* pairs.py: pairs are only read in a few candidate tracks (stage 2), so each track's pairs are
  one packed value of recognition_pairlist, filtered on the query's hashes by numpy.

hashes.py writes, looks up and deletes a track's hashes across both; sketches.py keeps each
track's frame sketches (recognition/engine/sketch/), read a slice at a time; counts.py says how much
is stored; index.py presents it all to the engine as a HashIndex (PostgresIndex). Offsets are
stored in whole frames.
"""

from recognition.store.copy_format import copy_payload
from recognition.store.counts import PARTIAL_TRACKS_SQL, count_track_rows, partial_tracks, table_size
from recognition.store.hashes import delete_track_hashes, lookup, write_track_hashes
from recognition.store.index import PostgresIndex
from recognition.store.pairs import PAIR_TABLE, pack_pairs, unpack_pairs
from recognition.store.presence import WRITE_TABLE, forget_triplet_filters
from recognition.store.sketches import SKETCH_TABLE, sketch_slices, write_track_sketch
from recognition.store.triplets import TABLE

__all__ = [
    "PAIR_TABLE",
    "PARTIAL_TRACKS_SQL",
    "SKETCH_TABLE",
    "TABLE",
    "WRITE_TABLE",
    "PostgresIndex",
    "copy_payload",
    "count_track_rows",
    "delete_track_hashes",
    "forget_triplet_filters",
    "lookup",
    "pack_pairs",
    "partial_tracks",
    "sketch_slices",
    "table_size",
    "unpack_pairs",
    "write_track_hashes",
    "write_track_sketch",
]
