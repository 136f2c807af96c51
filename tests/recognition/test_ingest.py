"""Reference audio into the catalog: the create and replace paths every interface goes through."""

import hashlib
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Track
from catalog.services import track_update
from recognition import store
from recognition.services import (
    DuplicateRecording,
    reference_from_upload,
    track_ingest,
    track_replace_reference,
    tracks_ingest,
)
from tests import media

pytestmark = pytest.mark.django_db


def _upload(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_ingest_takes_tags_and_ignores_a_malformed_isrc(rights_holder, tmp_path):
    path = media.encode(
        media.synth_song(35, 12), tmp_path / "tagged.flac", media.FILE_RATE,
        "-metadata", "title=Night Drive", "-metadata", "artist=The Examples; Guest",
        "-metadata", "album=Tests", "-metadata", "ISRC=AB-CDE-FG-HIJKL",  # 12 characters, not an ISRC
    )  # fmt: skip
    outcome = track_ingest(path=path, owner=rights_holder, store_audio=False)
    assert outcome.status == "added", outcome.reason
    track = Track.objects.get(pk=outcome.track.pk)
    assert (track.title, track.album.title, track.isrc) == ("Night Drive", "Tests", "")
    assert sorted(a.name for a in track.artists.all()) == ["Guest", "The Examples"]
    assert all(a.owner == rights_holder for a in track.artists.all()) and track.album.owner == rights_holder


def test_replacing_the_reference_never_writes_back_metadata_edited_meanwhile(rights_holder, song_files):
    stale = track_ingest(path=song_files[1], owner=rights_holder, title="Old", store_audio=False).track
    track_update(track=Track.objects.get(pk=stale.pk), title="New", artists=["Band"], album="Album")
    upload = _upload(song_files[2])
    reference, digest = reference_from_upload(upload)
    track_replace_reference(track=stale, reference=reference, digest=digest, audio=upload)
    fresh = Track.objects.get(pk=stale.pk)
    assert (fresh.title, fresh.album.title, fresh.artist_names) == ("New", "Album", "Band")
    assert fresh.sha256 == hashlib.sha256(song_files[2].read_bytes()).hexdigest()
    assert fresh.hash_count == store.count_track_rows(fresh.pk) > 0


def test_another_tracks_recording_is_a_duplicate_that_names_it(rights_holder, song_files):
    first = track_ingest(path=song_files[1], owner=rights_holder, store_audio=False).track
    second = track_ingest(path=song_files[2], owner=rights_holder, store_audio=False).track
    with pytest.raises(DuplicateRecording) as refused:
        reference_from_upload(_upload(song_files[1]))
    assert refused.value.track == first
    reference, digest = reference_from_upload(_upload(song_files[3]))
    Track.objects.filter(pk=first.pk).update(sha256=digest)  # another request stored these bytes meanwhile
    with pytest.raises(DuplicateRecording) as refused:
        track_replace_reference(track=second, reference=reference, digest=digest, audio=_upload(song_files[3]))
    assert refused.value.track == first
    assert Track.objects.get(pk=second.pk).hash_count == store.count_track_rows(second.pk) > 0


def test_tracks_ingest_reads_the_next_file_while_writing_and_keeps_order_and_outcomes(
    rights_holder, song_files, tmp_path, monkeypatch
):
    """A batch: each file's outcome in its place, a bad file or an error in either stage failing that
    file only, the same bytes twice a duplicate; the next file read while one is written, never two."""
    from recognition.services import ingest

    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("definitely not audio\n" * 100)
    unreadable = media.write_wav(tmp_path / "unreadable.wav", media.synth_song(41, 12))
    unwritable = media.write_wav(tmp_path / "unwritable.wav", media.synth_song(42, 12))
    paths = [song_files[1], not_audio, unreadable, song_files[2], unwritable, song_files[1], song_files[3]]
    events: list[str] = []
    second_read = threading.Event()
    read, write = ingest._ingest_read, ingest._ingest_write

    def reading(path):
        events.append("read")
        if events.count("read") == 2:
            second_read.set()
        if path == unreadable:
            raise RuntimeError("the reader broke")
        return read(path)

    def writing(item, **options):
        events.append("write")
        if events.count("write") == 1:  # the second file is read while the first is written
            assert second_read.wait(timeout=30)
        if item.path == unwritable:
            raise RuntimeError("the writer broke")
        return write(item, **options)

    monkeypatch.setattr(ingest, "_ingest_read", reading)
    monkeypatch.setattr(ingest, "_ingest_write", writing)
    results = []
    for result in tracks_ingest(paths=paths, owner=rights_holder, store_audio=False):
        assert events.count("read") <= len(results) + 2, events  # this file and the next, no further
        results.append(result)

    assert [path for path, _ in results] == [str(path) for path in paths]
    outcomes = [outcome for _, outcome in results]
    assert [o.status for o in outcomes] == ["added", "failed", "failed", "added", "failed", "duplicate", "added"]
    assert "not an audio or video file" in outcomes[1].reason
    assert outcomes[2].reason == "internal error: the reader broke"
    assert outcomes[4].reason == "internal error: the writer broke"
    assert outcomes[5].track == outcomes[0].track
    assert Track.objects.count() == 3
