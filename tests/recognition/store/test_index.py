"""The store as the engine's HashIndex (recognition/store/index.py), end to end."""

import numpy as np
import pytest

from catalog.demo import demo_music_files
from catalog.models import Track
from recognition import selectors, store
from recognition.engine import REFERENCE, Identifier, LookupRows, audio
from recognition.engine.fingerprint import Fingerprints
from recognition.services import recognize_samples, track_ingest


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


@pytest.mark.django_db
def test_the_index_reads_hashes_and_sketches_from_the_store_and_lengths_from_the_catalog(rights_holder):
    selectors.forget_track_frames()
    track = Track.objects.create(title="t", owner=rights_holder, duration_s=2.0)
    track.hash_count = store.write_track_hashes(
        track.pk, Fingerprints(np.full(3, -5, np.int32), np.arange(3, dtype=np.float32), 3)
    )
    track.save()
    store.write_track_sketch(track.pk, np.arange(1, 11, dtype=np.uint16))
    index = store.PostgresIndex()
    assert (
        _rows(index.lookup(np.array([-5])))
        == _rows(store.lookup(np.array([-5])))
        == [(-5, track.pk, k) for k in range(3)]
    )
    assert _rows(store.PostgresIndex(row_cap=2).lookup(np.array([-5]))) == [(-5, track.pk, 0), (-5, track.pk, 1)]
    assert index.track_frames(np.array([track.pk])).tolist() == [int(2.0 * REFERENCE.frames_per_second)]
    assert index.sketch_slices(np.array([track.pk]), np.array([8]), 4).tolist() == [[9, 10, 0, 0]]
    selectors.forget_track_frames()


def _rows(rows: LookupRows) -> list[tuple[int, int, int]]:
    return sorted(zip(rows.hashes.tolist(), rows.track_ids.tolist(), rows.offsets.tolist(), strict=True))
