"""Adding a track in the admin: blanks filled from the file's tags, and a duplicate named (or not)."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.demo import synth_song
from catalog.models import Track
from recognition.services import track_ingest
from tests import media
from tests.factories import ArtistFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:catalog_track_add")


def _tagged_flac(folder: Path, seed: int, **tags: str) -> Path:
    metadata = [arg for name, value in tags.items() for arg in ("-metadata", f"{name}={value}")]
    return media.encode(synth_song(seed, 20), folder / f"song-{seed}.flac", media.FILE_RATE, *metadata)


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_title_artist_and_album_left_blank_come_from_the_tags(client, rights_holder, tmp_path):
    song = _tagged_flac(tmp_path, 81, title="Harbour Lights", artist="The Examples; Nora Vale", album="Low Tide")
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": "", "audio": _upload(song)}, follow=True)
    assert response.status_code == 200 and b"errornote" not in response.content, response.content.decode()[-3000:]
    track = Track.objects.get()
    assert track.title == "Harbour Lights"
    assert sorted(track.artists.values_list("name", flat=True)) == ["Nora Vale", "The Examples"]
    assert track.album is not None and track.album.title == "Low Tide"
    assert track.album.owner == rights_holder and {a.owner for a in track.artists.all()} == {rights_holder}
    assert "Fingerprinted" in response.content.decode()


def test_what_is_typed_wins_over_the_tags_and_an_untagged_file_gives_its_name(client, rights_holder, tmp_path):
    client.force_login(rights_holder)
    mine = ArtistFactory(owner=rights_holder, name="Typed Artist")
    song = _tagged_flac(tmp_path, 82, title="Tagged Title", artist="Tagged Artist")
    response = client.post(ADD, {"title": "Typed Title", "artists": [mine.pk], "audio": _upload(song)})
    assert response.status_code == 302
    typed = Track.objects.get(title="Typed Title")
    assert list(typed.artists.values_list("name", flat=True)) == ["Typed Artist"]
    plain = media.write_wav(tmp_path / "Copper Sky.wav", synth_song(83, 20))
    assert client.post(ADD, {"title": "", "audio": _upload(plain)}).status_code == 302
    assert Track.objects.filter(title="Copper Sky", album=None).exists()


def test_without_a_file_the_title_is_still_required(client, rights_holder):
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": ""})
    text = response.content.decode()
    assert response.status_code == 200 and "This field is required" in text  # the file
    assert "Give a title, or a file whose tags" in text
    assert not Track.objects.exists()


def test_a_duplicate_of_my_own_track_links_to_it(client, rights_holder, song_files):
    mine = track_ingest(path=song_files[1], owner=rights_holder, title="Blue Hour").track
    client.force_login(rights_holder)
    response = client.post(ADD, {"title": "Again", "audio": _upload(song_files[1])})
    text = response.content.decode()
    assert response.status_code == 200
    url = reverse("admin:catalog_track_change", args=[mine.pk])
    assert f'This recording is already in the catalog: <a href="{url}">Blue Hour</a>.' in text
    assert Track.objects.count() == 1


def test_a_duplicate_of_another_owners_track_does_not_name_it(
    client, rights_holder, other_rights_holder, staff, song_files
):
    theirs = track_ingest(path=song_files[2], owner=other_rights_holder, title="Secret Demo 7").track
    client.force_login(rights_holder)
    text = client.post(ADD, {"title": "Mine?", "audio": _upload(song_files[2])}).content.decode()
    assert "already in the catalog, under another rights holder" in text
    assert "Secret Demo 7" not in text and reverse("admin:catalog_track_change", args=[theirs.pk]) not in text
    # Staff see every track: to them it is named and linked.
    client.force_login(staff)
    text = client.post(ADD, {"title": "Staff's", "audio": _upload(song_files[2])}).content.decode()
    assert "Secret Demo 7</a>" in text
