"""The admin's delete confirmation says, readably, what goes with a track: its hashes, its file."""

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Artist, Track
from recognition import store
from recognition.models import Play, Recognition
from recognition.services import track_ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def credited_track(rights_holder, song_files):
    track = track_ingest(path=song_files[1], owner=rights_holder, title="Harbour Lights").track
    track.artists.set([Artist.objects.create(owner=rights_holder, name="The Examples")])
    job = Recognition.objects.create(user=rights_holder, source="api", status="done", track=track)
    Play.objects.create(recognition=job, track=track, source="api", played_s=6, heard_at=timezone.now())
    return track


def test_the_confirmation_names_the_hashes_the_file_and_the_credits(client, rights_holder, credited_track):
    client.force_login(rights_holder)
    response = client.get(reverse("admin:catalog_track_delete", args=[credited_track.pk]))
    text = response.content.decode()
    assert response.status_code == 200
    assert "object (" not in text and "Track_artists" not in text
    assert f"its {credited_track.hash_count:,} fingerprint hashes" in text and credited_track.hash_count > 300
    assert f"its audio file {credited_track.audio.name.rsplit('/', 1)[-1]}" in text
    assert "its artist credits (The Examples; the artists stay)" in text
    assert "its 1 plays in the reports" in text
    assert f"Fingerprint hashes: {credited_track.hash_count:,}" in text and "Audio files: 1" in text


def test_the_bulk_action_names_every_track_and_the_total(client, rights_holder, credited_track, song_files):
    other = track_ingest(path=song_files[2], owner=rights_holder, title="Copper Sky").track
    client.force_login(rights_holder)
    response = client.post(
        reverse("admin:catalog_track_changelist"),
        {"action": "delete_selected", "_selected_action": [credited_track.pk, other.pk]},
    )
    text = response.content.decode()
    assert response.status_code == 200 and "Harbour Lights</a>" in text and "Copper Sky</a>" in text
    assert f"Fingerprint hashes: {credited_track.hash_count + other.hash_count:,}" in text
    assert "object (" not in text


def test_deleting_an_artist_names_its_credits_readably(client, rights_holder, credited_track):
    client.force_login(rights_holder)
    artist = credited_track.artists.get()
    text = client.get(reverse("admin:catalog_artist_delete", args=[artist.pk])).content.decode()
    assert "Artist credit: The Examples on “Harbour Lights”" in text
    assert "object (" not in text


def test_confirming_deletes_what_it_named(client, rights_holder, credited_track, django_capture_on_commit_callbacks):
    client.force_login(rights_holder)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:catalog_track_delete", args=[credited_track.pk]), {"post": "yes"})
    assert not Track.objects.exists() and store.count_track_rows(credited_track.pk) == 0
    assert not Play.objects.exists()
