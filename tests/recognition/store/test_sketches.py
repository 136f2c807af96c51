"""Frame sketches in the real PostgreSQL (recognition/store/sketches.py): stored whole, read in slices."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Track
from recognition import store
from recognition.engine import audio
from recognition.engine import sketch as sk
from recognition.models import FrameSketch
from recognition.services import track_ingest


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
