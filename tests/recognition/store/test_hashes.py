"""A track's hashes in the real PostgreSQL: written, looked up in both layouts, deleted, compact."""

import numpy as np
import pytest
from django.db import connection

from catalog.models import Track
from recognition import store
from recognition.engine import LookupRows
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET, Fingerprints
from recognition.services import track_ingest


def _sorted_rows(rows: LookupRows) -> list[tuple[int, int, int]]:
    return sorted(zip(rows.hashes.tolist(), rows.track_ids.tolist(), rows.offsets.tolist(), strict=True))


@pytest.mark.django_db
def test_database_sessions_run_without_jit():
    # Lookups in a large table were compiled with LLVM before running (portal/settings.py).
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.django_db
def test_write_and_lookup_round_trip(rights_holder):
    track = Track.objects.create(title="t", owner=rights_holder)
    triplet = -123456789
    hashes = np.array([5, 7, 7, 1 << 20, triplet, triplet, 1 << 30], np.int32)
    offsets = np.array([0.2, 10.6, 11.0, 99999.0, 3.0, 4.0, 5.0], np.float32)
    # 10.6 and 11.0 both round to frame 11: stored once.
    assert store.write_track_hashes(track.pk, Fingerprints(hashes, offsets, 100000)) == 6
    assert store.count_track_rows(track.pk) == 6
    wanted = np.array([7, 1 << 20, 12345, triplet, 1 << 30])
    in_track = store.lookup(wanted, np.array([track.pk]))
    assert _sorted_rows(in_track) == [
        (triplet, track.pk, 3), (triplet, track.pk, 4), (7, track.pk, 11), (1 << 20, track.pk, 99999),
        (1 << 30, track.pk, 5),
    ]  # fmt: skip
    # Pairs are kept per track: a lookup in every track finds the triplets only.
    everywhere = store.lookup(wanted)
    assert _sorted_rows(everywhere) == [(triplet, track.pk, 3), (triplet, track.pk, 4), (1 << 30, track.pk, 5)]
    assert len(store.lookup(np.array([], np.int64))) == 0
    assert store.table_size()["rows"] == 6
    assert store.delete_track_hashes(track.pk) == 6 and store.count_track_rows(track.pk) == 0


@pytest.mark.django_db
def test_lookup_in_tracks_returns_only_those_tracks_rows(rights_holder):
    tracks = [Track.objects.create(title=f"t{k}", owner=rights_holder) for k in range(3)]
    for k, track in enumerate(tracks):
        # Pairs and a triplet (a negative int4) in every track, at different offsets.
        hashes = np.array([5, 9, -123456789], np.int32)
        store.write_track_hashes(track.pk, Fingerprints(hashes, np.full(3, 10.0 * k, np.float32), 100))
    wanted = np.array([5, -123456789, 77])
    rows = store.lookup(wanted, np.array([tracks[0].pk, tracks[2].pk]))
    assert _sorted_rows(rows) == sorted(
        [(5, tracks[0].pk, 0), (-123456789, tracks[0].pk, 0), (5, tracks[2].pk, 20), (-123456789, tracks[2].pk, 20)]
    )
    assert len(store.lookup(wanted)) == 3  # in every track: the triplets
    assert len(store.lookup(wanted, np.array([], np.int64))) == 0


@pytest.mark.django_db
def test_a_lookup_in_tracks_reads_long_and_empty_pair_lists_whole(rights_holder):
    """Pair lists come back through binary COPY, each parsed by its length: a long list, an
    empty one (a track of triplets only) and one in between, all filtered as numpy would."""
    rng = np.random.default_rng(11)
    sizes = (20_000, 0, 300)
    tracks = [Track.objects.create(title=f"t{size}", owner=rights_holder) for size in sizes]
    expected = []
    wanted = rng.choice(1 << 21, 30_000, replace=False)
    for track, size in zip(tracks, sizes, strict=True):
        hashes = np.concatenate([rng.integers(0, 1 << 21, size), [-123456789]]).astype(np.int32)
        frames = np.arange(hashes.size, dtype=np.float32)
        store.write_track_hashes(track.pk, Fingerprints(hashes, frames, hashes.size))
        pairs = np.isin(hashes, wanted) & (hashes >= 0)
        expected += [(int(hashes[i]), track.pk, int(i)) for i in np.flatnonzero(pairs)]
    rows = store.lookup(wanted, np.array([t.pk for t in tracks]))
    assert len(expected) > 200 and _sorted_rows(rows) == sorted(expected)


@pytest.mark.django_db
def test_a_lookup_in_every_track_reads_at_most_the_cap_of_each_triplet_value(rights_holder):
    cap = MAX_ROWS_PER_TRIPLET
    common, rare = -1001, -2002
    tracks = [Track.objects.create(title=f"t{k}", owner=rights_holder) for k in range(2)]
    # `common` at every frame below 2 * cap + 100, over two tracks (even and odd); `rare` twice.
    for track, first in zip(tracks, (0, 1), strict=True):
        frames = np.arange(first, 2 * cap + 100, 2, dtype=np.float32)
        store.write_track_hashes(track.pk, Fingerprints(np.full(frames.size, common, np.int32), frames, 1000))
    store.write_track_hashes(tracks[0].pk, Fingerprints(np.array([rare, rare], np.int32), np.array([0.25, 7.0]), 9))
    everywhere = store.lookup(np.array([common, rare]))
    assert (everywhere.hashes == rare).sum() == 2
    # The earliest rows in track time, from both tracks.
    assert sorted(everywhere.offsets[everywhere.hashes == common].tolist()) == list(range(cap))
    assert set(everywhere.track_ids[everywhere.hashes == common].tolist()) == {t.pk for t in tracks}
    # A lookup in named tracks (stage 2, the decision's triplets) still reads every row.
    assert (store.lookup(np.array([common]), np.array([t.pk for t in tracks])).hashes == common).sum() == 2 * cap + 100


@pytest.mark.django_db
def test_triplet_rows_and_their_key_entries_stay_compact(rights_holder):
    """The storage budget rests on the row layout: 44 bytes of heap and, in key order (hash,
    offset, track), a 24-byte key entry that ingests leave ~70 % full (41-45 bytes a row). In the
    order (hash, track, offset) the 8-byte track id was padded to 32 bytes (52-56 a row)."""
    sizes = "SELECT pg_relation_size('recognition_fingerprint'), pg_relation_size('recognition_fingerprint_pkey')"
    with connection.cursor() as cursor:  # earlier tests' rolled-back rows still take pages
        cursor.execute(sizes)
        heap_before, key_before = cursor.fetchone()
    rng = np.random.default_rng(7)
    rows = 0
    for k in range(20):
        track = Track.objects.create(title=f"t{k}", owner=rights_holder)
        triplets = rng.integers(-(1 << 31), -1, 4000).astype(np.int32)
        offsets = rng.integers(0, 6000, 4000).astype(np.float32)
        rows += store.write_track_hashes(track.pk, Fingerprints(triplets, offsets, 6000))
    with connection.cursor() as cursor:
        cursor.execute(sizes)
        heap, key = cursor.fetchone()
    assert (heap - heap_before) / rows < 46
    assert (key - key_before) / rows < 48


@pytest.mark.django_db
def test_a_songs_pair_list_compresses_to_under_4_5_bytes_a_pair(rights_holder, song_files):
    """Pair lists are stored in byte planes, which PostgreSQL's lz4 compresses to ~3.2 bytes a
    pair on real music (5.9 as plain int8 values)."""
    track = track_ingest(path=song_files[1], owner=rights_holder, store_audio=False).track
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_size(packed), octet_length(packed) / 8 FROM recognition_pairlist WHERE track_id = %s",
            [track.pk],
        )
        stored_bytes, pairs = cursor.fetchone()
    assert pairs > 500
    assert stored_bytes / pairs < 4.5
