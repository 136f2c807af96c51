"""Several reference files at once in the admin: one result per file, through the single add's service."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.demo import synth_song
from catalog.models import Track
from recognition import store
from recognition.services import track_ingest
from tests import media

pytestmark = pytest.mark.django_db

ADD_MANY = reverse("admin:catalog_track_add_many")


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def _results(text: str) -> list[tuple[str, str]]:
    rows = text.split('<table id="add-many-results">', 1)[1].split("</table>", 1)[0].split('data-status="')[1:]
    return [(row.split('"', 1)[0], " ".join(row.split("<td>")[2].split("</td>")[0].split())) for row in rows]


def test_each_file_gets_its_result(client, rights_holder, other_rights_holder, song_files, tmp_path):
    mine = track_ingest(path=song_files[1], owner=rights_holder, title="Already Mine").track
    track_ingest(path=song_files[2], owner=other_rights_holder, title="Their Secret")
    tagged = media.encode(
        synth_song(91, 20),
        tmp_path / "a.flac",
        media.FILE_RATE,
        "-metadata",
        "title=Tidewater",
        "-metadata",
        "artist=Nora Vale",
    )
    untagged = media.write_wav(tmp_path / "Low Sun.wav", synth_song(92, 20))
    text_file = tmp_path / "notes.mp3"
    text_file.write_bytes(b"this is a text file, not music\n" * 20)
    client.force_login(rights_holder)
    assert "Add several tracks" in client.get(reverse("admin:catalog_track_changelist")).content.decode()
    response = client.post(
        ADD_MANY,
        {
            "references": [_upload(p) for p in (tagged, untagged, song_files[1], song_files[2], text_file)],
            "album": "Spring",
        },
    )
    text = response.content.decode()
    assert response.status_code == 200 and "2 of 5 files added" in text
    results = _results(text)
    assert [status for status, _ in results] == ["added", "added", "duplicate", "duplicate", "failed"]
    tidewater = Track.objects.get(title="Tidewater")
    assert (
        results[0][1]
        == f'added as <a href="{reverse("admin:catalog_track_change", args=[tidewater.pk])}">Tidewater</a>'
    )
    assert list(tidewater.artists.values_list("name", flat=True)) == ["Nora Vale"]
    assert tidewater.album.title == "Spring" and tidewater.owner == rights_holder
    assert store.count_track_rows(tidewater.pk) == tidewater.hash_count > 100
    assert Track.objects.get(title="Low Sun").audio
    assert (
        "Already Mine</a>" in results[2][1] and reverse("admin:catalog_track_change", args=[mine.pk]) in results[2][1]
    )
    assert results[3][1] == "duplicate: This recording is already in the catalog, under another rights holder."
    assert "Their Secret" not in text
    assert results[4][1].startswith("refused: ") and "not an audio or video file" in results[4][1]
    assert Track.objects.filter(owner=rights_holder).count() == 3


def test_staff_add_for_a_rights_holder_and_too_many_files_are_refused(client, staff, rights_holder, tmp_path):
    client.force_login(staff)
    song = media.write_wav(tmp_path / "Copper Sky.wav", synth_song(93, 20))
    response = client.post(ADD_MANY, {"references": [_upload(song)], "owner": rights_holder.pk})
    assert "1 of 1 file added" in response.content.decode()
    assert Track.objects.get(title="Copper Sky").owner == rights_holder
    files = [SimpleUploadedFile(f"{i}.wav", b"RIFF") for i in range(26)]
    refused = client.post(ADD_MANY, {"references": files}).content.decode()
    assert "Send at most 25 files at once." in refused and Track.objects.count() == 1


def test_others_may_not_open_it(client, make_user):
    client.force_login(make_user("creator"))
    assert client.get(ADD_MANY).status_code == 302  # the admin's own log-in page
    assert client.post(ADD_MANY, {"references": []}).status_code == 302 and not Track.objects.exists()
