"""Reference audio uploaded in the admin is checked, fingerprinted and stored, or refused whole."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import FingerprintStatus, Track
from recognition import store
from tests import media

pytestmark = pytest.mark.django_db

ADD = reverse("admin:catalog_track_add")


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_upload_fingerprints_and_stores_the_track(client, rights_holder, other_rights_holder, song_files):
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": "Song one", "audio": _upload(song_files[1]), "owner": other_rights_holder.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    track = Track.objects.get(title="Song one")
    assert track.owner == rights_holder  # the crafted owner field is ignored
    assert track.fingerprint_status == FingerprintStatus.READY
    assert track.hash_count > 300 and store.count_track_rows(track.pk) == track.hash_count
    assert abs(track.duration_s - 40) < 0.1
    assert len(track.sha256) == 64
    assert track.audio and Path(track.audio.path).read_bytes() == song_files[1].read_bytes()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.mp3", b"this is a text file, not music\n" * 20, "not an audio or video file"),
        ("noise.wav", np.random.default_rng(0).bytes(4096), "not an audio or video file"),
        ("empty.wav", b"", "empty"),
    ],
)
def test_non_audio_upload_is_a_form_error_and_stores_nothing(client, rights_holder, name, content, message):
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": "Bad", "audio": SimpleUploadedFile(name, content)})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Track.objects.exists()
    assert store.table_size()["rows"] == 0
    assert _stored_files() == []


def test_silent_upload_is_refused(client, rights_holder, tmp_path):
    silence = media.write_wav(tmp_path / "silence.wav", np.zeros(22050 * 5, np.float32))
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": "Quiet", "audio": _upload(silence)})
    assert response.status_code == 200
    assert "No music could be fingerprinted" in response.content.decode()
    assert not Track.objects.exists() and _stored_files() == []


def test_the_same_recording_twice_is_refused(client, rights_holder, song_files):
    client.force_login(rights_holder)
    assert client.post(ADD, {"title": "First", "audio": _upload(song_files[2])}).status_code == 302
    response = client.post(ADD, {"title": "Again", "audio": _upload(song_files[2])})
    assert response.status_code == 200
    assert "already in the catalog" in response.content.decode()
    assert Track.objects.count() == 1


def test_replacing_the_reference_replaces_the_hashes(
    client, rights_holder, song_files, django_capture_on_commit_callbacks
):
    client.force_login(rights_holder)
    client.post(ADD, {"title": "Song", "audio": _upload(song_files[1])})
    track = Track.objects.get()
    first_file = Path(track.audio.path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:catalog_track_change", args=[track.pk]), {"title": "Song", "audio": _upload(song_files[3])}
        )
    assert response.status_code == 302
    track.refresh_from_db()
    assert store.count_track_rows(track.pk) == track.hash_count
    assert track.sha256 == hashlib.sha256(song_files[3].read_bytes()).hexdigest()
    assert not first_file.exists()


def test_deleting_a_track_deletes_its_hashes_and_file(
    client, rights_holder, song_files, django_capture_on_commit_callbacks
):
    client.force_login(rights_holder)
    client.post(ADD, {"title": "Song", "audio": _upload(song_files[1])})
    track = Track.objects.get()
    stored = Path(track.audio.path)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:catalog_track_delete", args=[track.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert store.count_track_rows(track.pk) == 0
    assert not stored.exists()
