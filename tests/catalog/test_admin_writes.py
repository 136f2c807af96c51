"""The admin writes tracks through the catalog's services: a change form saved after another
request deleted the track, or replaced its reference, never writes the stale row back."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.urls import reverse

from catalog.admin import TrackAdmin
from catalog.models import Track
from catalog.services import tracks_delete
from recognition import store
from recognition.services import reference_from_upload, track_ingest, track_replace_reference
from tests.factories import AlbumFactory, ArtistFactory, TrackFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _meanwhile(monkeypatch, write) -> None:
    """Run `write` as another request would, on its own connection and committed, after the
    admin has read the track for a POST and before it saves the form."""
    read = TrackAdmin.get_object

    def in_own_connection() -> None:
        try:
            write()
        finally:
            connections.close_all()

    def get_object(self, request, object_id, from_field=None):
        obj = read(self, request, object_id, from_field)
        if request.method == "POST":
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(in_own_connection).result(timeout=120)
        return obj

    monkeypatch.setattr(TrackAdmin, "get_object", get_object)


def _open_change_form(client, user, track: Track) -> str:
    client.force_login(user)
    url = reverse("admin:catalog_track_change", args=[track.pk])
    assert client.get(url).status_code == 200
    return url


def test_a_change_saved_after_the_track_was_deleted_does_not_bring_it_back(
    client, monkeypatch, rights_holder, song_files
):
    track = track_ingest(path=song_files[1], owner=rights_holder, title="Song").track
    url = _open_change_form(client, rights_holder, track)
    _meanwhile(monkeypatch, lambda: tracks_delete(tracks=[Track.objects.get(pk=track.pk)]))
    response = client.post(url, {"title": "Renamed"})
    assert response.status_code == 404
    assert not Track.objects.filter(pk=track.pk).exists()
    assert store.count_track_rows(track.pk) == 0


def test_a_change_saved_after_the_reference_was_replaced_keeps_the_new_reference(
    client, monkeypatch, rights_holder, song_files
):
    track = track_ingest(path=song_files[1], owner=rights_holder, title="Song").track
    url = _open_change_form(client, rights_holder, track)
    new_bytes = song_files[2].read_bytes()

    def replace() -> None:
        upload = SimpleUploadedFile(song_files[2].name, new_bytes)
        reference, digest = reference_from_upload(upload)
        track_replace_reference(track=Track.objects.get(pk=track.pk), reference=reference, digest=digest, audio=upload)

    _meanwhile(monkeypatch, replace)
    response = client.post(url, {"title": "Renamed", "isrc": "GBAYE0601498"})
    assert response.status_code == 302
    fresh = Track.objects.get(pk=track.pk)
    assert (fresh.title, fresh.isrc) == ("Renamed", "GBAYE0601498")
    assert fresh.sha256 == hashlib.sha256(new_bytes).hexdigest()
    assert fresh.hash_count == store.count_track_rows(fresh.pk) > 0
    assert fresh.audio.name != track.audio.name and Path(fresh.audio.path).read_bytes() == new_bytes


@pytest.mark.django_db
def test_staff_gives_a_track_to_another_rights_holder_with_their_artist_and_album(
    client, staff, rights_holder, other_rights_holder
):
    track = TrackFactory(title="Song", owner=rights_holder)
    band, album = ArtistFactory(owner=other_rights_holder), AlbumFactory(owner=other_rights_holder)
    client.force_login(staff)
    response = client.post(
        reverse("admin:catalog_track_change", args=[track.pk]),
        {"title": "Song", "owner": other_rights_holder.pk, "artists": [band.pk], "album": album.pk},
    )
    assert response.status_code == 302
    track.refresh_from_db()
    assert (track.owner, track.album, list(track.artists.all())) == (other_rights_holder, album, [band])
