"""The hash table in the real PostgreSQL: round trip, atomic and idempotent ingest, cascade, concurrency."""

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from catalog.demo import demo_music_files
from catalog.models import Track
from recognition import store
from recognition.engine import audio
from recognition.engine import sketch as sk
from recognition.engine.fingerprint import MAX_ROWS_PER_TRIPLET, Fingerprints
from recognition.engine.identify import Identifier
from recognition.engine.index import LookupRows
from recognition.models import FrameSketch
from recognition.services import recognize_samples, track_ingest
from recognition.store.presence import triplet_filter
from tests import media
from tests.conftest import subprocess_environment

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.django_db
def test_partial_tracks_names_a_track_whose_count_differs_from_its_rows(rights_holder):
    whole = Track.objects.create(title="whole", owner=rights_holder)
    whole.hash_count = store.write_track_hashes(whole.pk, _triplets(-7, -8, 3))
    whole.save()
    cut_short = Track.objects.create(title="cut short", owner=rights_holder, hash_count=5)
    store.write_track_hashes(cut_short.pk, _triplets(-9, 4))
    assert store.partial_tracks() == [(cut_short.pk, 5, 2)]


@pytest.mark.django_db
def test_ingest_is_idempotent(rights_holder, song_files):
    first = track_ingest(path=song_files[1], owner=rights_holder, store_audio=False)
    rows = store.table_size()["rows"]
    again = track_ingest(path=song_files[1], owner=rights_holder, store_audio=False)
    assert first.status == "added" and again.status == "duplicate"
    assert again.track.pk == first.track.pk
    assert store.table_size()["rows"] == rows == first.track.hash_count


@pytest.mark.django_db
def test_an_error_mid_ingest_leaves_nothing(rights_holder, song_files, monkeypatch):
    """The sketch is the last thing ingest writes: failing right after it, nothing is kept."""
    real_write = store.write_track_sketch

    def write_then_fail(track_id, frames):
        real_write(track_id, frames)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "write_track_sketch", write_then_fail)
    with pytest.raises(RuntimeError):
        track_ingest(path=song_files[1], owner=rights_holder)
    assert not Track.objects.exists()
    assert store.table_size()["rows"] == 0
    assert not FrameSketch.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.wav"))


@pytest.mark.django_db
def test_deleting_a_track_cascades_in_the_database(rights_holder, song_files):
    keep = track_ingest(path=song_files[2], owner=rights_holder, store_audio=False).track
    gone = track_ingest(path=song_files[1], owner=rights_holder, store_audio=False).track
    with CaptureQueriesContext(connection) as queries:
        gone.delete()
    tables = (store.TABLE, store.PAIR_TABLE, store.SKETCH_TABLE)
    assert not any(table in q["sql"] for q in queries.captured_queries for table in tables)
    assert store.count_track_rows(gone.pk) == 0
    assert store.count_track_rows(keep.pk) == keep.hash_count
    assert list(FrameSketch.objects.values_list("track_id", flat=True)) == [keep.pk]


@pytest.mark.django_db(transaction=True)
def test_a_process_killed_mid_ingest_leaves_nothing(rights_holder, song_files):
    """SIGKILL right after the hashes and the sketch are written, before commit: PostgreSQL
    keeps nothing."""
    script = f"""
import os, signal, django
django.setup()
from recognition import store
from recognition.services import track_ingest
from accounts.models import User
real = store.write_track_sketch
def write_then_die(track_id, frames):
    real(track_id, frames)
    os.kill(os.getpid(), signal.SIGKILL)
store.write_track_sketch = write_then_die
track_ingest(path={str(song_files[1])!r}, owner=User.objects.get(pk={rights_holder.pk}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=subprocess_environment(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    assert not Track.objects.exists()
    assert store.table_size()["rows"] == 0
    assert not FrameSketch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_ingests_never_lose_or_mix_tracks(rights_holder, tmp_path):
    files = [media.write_wav(tmp_path / f"s{seed}.wav", media.synth_song(seed, 20)) for seed in range(20, 26)]
    # Each distinct file twice, and one file six times over, all at once.
    jobs = files * 2 + [files[0]] * 4

    def ingest(path):
        try:
            return path, track_ingest(path=path, owner=rights_holder, store_audio=False).status
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(ingest, jobs))
    assert sum(status == "added" for _, status in outcomes) == len(files)
    assert all(status in {"added", "duplicate"} for _, status in outcomes)
    assert Track.objects.count() == len(files)
    assert store.partial_tracks() == []
    titles = sorted(Track.objects.values_list("title", flat=True))
    assert titles == sorted(f.stem for f in files)


def _triplets(*values: int) -> Fingerprints:
    hashes = np.array(values, np.int32)
    return Fingerprints(hashes, np.arange(hashes.size, dtype=np.float32), hashes.size)


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
def test_the_presence_filter_passes_every_stored_triplet_and_few_others(rights_holder):
    rng = np.random.default_rng(3)
    stored_values = rng.integers(-(1 << 31), -1, 5000).astype(np.int32)
    track = Track.objects.create(title="t", owner=rights_holder)
    store.write_track_hashes(track.pk, Fingerprints(stored_values, np.zeros(5000, np.float32), 10))
    others = rng.integers(-(1 << 31), -1, 20000)
    with connection.cursor() as cursor:
        presence = triplet_filter(cursor)
    assert presence.may_hold(stored_values).all()
    assert presence.may_hold(others).mean() < 0.01
    # A clip's triplets sit next to stored ones (one step apart): they must not pass with them.
    neighbours = np.setdiff1d((stored_values.astype(np.int64)[:, None] ^ np.arange(1, 16)).ravel(), stored_values)
    assert presence.may_hold(neighbours).mean() < 0.01
    # What it lets through is looked up: the rows found are those stored.
    assert len(store.lookup(np.concatenate([stored_values[:100], others]))) == 100


@pytest.mark.django_db(transaction=True)
def test_lookups_find_triplets_written_by_a_transaction_open_while_they_looked(rights_holder):
    """The filter must never miss a track: not one written before it loaded, and not one whose
    transaction was still open at a lookup and committed after it."""
    store.forget_triplet_filters()
    first = Track.objects.create(title="before", owner=rights_holder)
    store.write_track_hashes(first.pk, _triplets(-1001))
    assert len(store.lookup(np.array([-1001]))) == 1  # loads the filter

    written, release = threading.Event(), threading.Event()

    def ingest_and_wait() -> None:
        try:
            with transaction.atomic():
                late = Track.objects.create(title="late", owner=rights_holder)
                store.write_track_hashes(late.pk, _triplets(-2002))
                written.set()
                assert release.wait(30)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(ingest_and_wait)
        assert written.wait(30)
        assert len(store.lookup(np.array([-1001, -2002]))) == 1  # not committed yet
        release.set()
        pending.result(timeout=30)
    assert len(store.lookup(np.array([-1001, -2002]))) == 2
    third = Track.objects.create(title="after", owner=rights_holder)
    store.write_track_hashes(third.pk, _triplets(-3003))
    assert len(store.lookup(np.array([-1001, -2002, -3003]))) == 3


@pytest.mark.django_db
def test_sketch_slices_round_trip_in_one_statement(rights_holder):
    track = Track.objects.create(title="t", owner=rights_holder)
    frames = np.arange(1, 1001, dtype=np.uint16) * 61  # no 0: every frame usable
    store.write_track_sketch(track.pk, frames)
    with CaptureQueriesContext(connection) as queries:
        slices = store.sketch_slices(np.array([track.pk, track.pk, track.pk, 987654]), np.array([-3, 500, 997, 0]), 8)
    assert len(queries.captured_queries) == 1
    assert np.array_equal(slices[0], np.r_[np.zeros(3, np.uint16), frames[:5]])  # before the start
    assert np.array_equal(slices[1], frames[500:508])
    assert np.array_equal(slices[2], np.r_[frames[997:], np.zeros(5, np.uint16)])  # past the end
    assert not slices[3].any()  # no such track
    assert store.sketch_slices(np.array([track.pk]), np.array([-50]), 8).shape == (1, 8)


@pytest.mark.django_db
def test_sketches_are_stored_out_of_line_and_uncompressed_to_be_read_in_slices():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'frames'",
            [store.SKETCH_TABLE],
        )
        assert cursor.fetchone()[0] == "e"  # EXTERNAL: substring() reads only the chunks it needs


@pytest.mark.django_db
def test_ingest_stores_the_sketch_of_the_whole_file_and_replacing_drops_it(rights_holder, song_files):
    track = track_ingest(path=song_files[2], owner=rights_holder, store_audio=False).track
    stored = np.frombuffer(bytes(FrameSketch.objects.get(track_id=track.pk).frames), "<u2")
    samples = audio.decode(song_files[2], sample_rate_hz=8000, max_seconds=60)
    assert np.array_equal(stored, sk.sketch(samples))
    assert store.table_size()["sketch_bytes"] >= stored.nbytes
    store.delete_track_hashes(track.pk)
    assert not FrameSketch.objects.filter(track_id=track.pk).exists()


@pytest.mark.django_db
def test_one_second_clips_of_real_music_are_recognised_through_the_database(rights_holder):
    """Real music (Debian's drascula-music, the demo catalog's): with its sketches the engine
    names 1 s clips that its landmarks alone leave unanswered, and never wrongly."""
    files = demo_music_files()[:3]
    assert len(files) == 3, "drascula-music is installed by scripts/bootstrap.sh"
    tracks = {track_ingest(path=path, owner=rights_holder, store_audio=False).track.pk: path for path in files}
    landmarks_only = Identifier(store.PostgresIndex(), sketches=False)
    answered = {"with sketches": 0, "landmarks only": 0}
    for track_id, path in tracks.items():
        length_s = Track.objects.get(pk=track_id).duration_s
        for start_s in np.linspace(5, length_s - 5, 5):
            clip = audio.decode(path, sample_rate_hz=8000, max_seconds=1.0, start_s=float(start_s))
            for kind, match in (
                ("with sketches", recognize_samples(clip)),
                ("landmarks only", landmarks_only.identify(clip)),
            ):
                assert match is None or match.track_id == track_id, (path, start_s, kind)
                answered[kind] += match is not None
    assert answered["with sketches"] >= 13, answered  # of 15
    assert answered["with sketches"] >= answered["landmarks only"] + 5, answered
