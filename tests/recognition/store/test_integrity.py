"""The hash tables stay whole: atomic and idempotent ingest, cascade, concurrency, counts."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from catalog.models import Track
from recognition import store
from recognition.engine.fingerprint import Fingerprints
from recognition.models import FrameSketch
from recognition.services import track_ingest
from tests import media
from tests.conftest import ROOT, subprocess_environment


def _triplets(*values: int) -> Fingerprints:
    hashes = np.array(values, np.int32)
    return Fingerprints(hashes, np.arange(hashes.size, dtype=np.float32), hashes.size)


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
    """Failing at the sketch, after the file and the hashes are stored, nothing is kept."""
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
