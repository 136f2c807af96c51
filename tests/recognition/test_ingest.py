"""Reference audio into the catalog: the create and replace paths every interface goes through."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Track
from catalog.services import track_update
from recognition import store
from recognition.services import DuplicateRecording, reference_from_upload, track_ingest, track_replace_reference
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
