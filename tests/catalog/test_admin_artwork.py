"""A rights holder sets artwork, links and previews in the admin, checked as the API checks them."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from catalog.models import Album, Track
from recognition.services import track_ingest
from tests.factories import AlbumFactory

pytestmark = pytest.mark.django_db


def _png(name="cover.png") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (500, 300), (200, 40, 40)).save(out, "PNG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/png")


@pytest.fixture
def track(rights_holder, song_files):
    return track_ingest(path=song_files[1], owner=rights_holder, title="Song").track


def test_artwork_links_and_preview_from_the_track_form(client, rights_holder, track):
    client.force_login(rights_holder)
    url = reverse("admin:catalog_track_change", args=[track.pk])
    response = client.post(
        url,
        {
            "title": "Song",
            "links": "https://open.spotify.com/track/1\n\n  https://label.example/song  \n",
            "preview_allowed": "on",
            "artwork_file": _png(),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = Track.objects.get(pk=track.pk)
    assert fresh.links == ["https://open.spotify.com/track/1", "https://label.example/song"]
    assert fresh.preview_allowed and fresh.preview.name.endswith(".mp3")
    assert fresh.artwork.name.endswith(".jpg") and Image.open(fresh.artwork.path).size == (300, 300)
    page = client.get(url).content.decode()
    assert f'src="/tracks/{track.pk}/artwork?v=' in page and "https://label.example/song" in page
    response = client.post(url, {"title": "Song", "links": "", "artwork_remove": "on"})
    assert response.status_code == 302
    fresh = Track.objects.get(pk=track.pk)
    assert not fresh.artwork and fresh.links == [] and not fresh.preview_allowed and not fresh.preview


def test_the_admin_encodes_the_artwork_once(client, rights_holder, track):
    """What is stored is the original re-encoded once, as the API stores it: the form checks the
    image but hands the service the bytes as sent (a JPEG encoded twice loses detail twice)."""
    import numpy as np

    from catalog.artwork import artwork_from_bytes

    noise = np.random.default_rng(7).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG")
    original = out.getvalue()
    assert artwork_from_bytes(artwork_from_bytes(original)) != artwork_from_bytes(original)  # it would show
    client.force_login(rights_holder)
    url = reverse("admin:catalog_track_change", args=[track.pk])
    upload = SimpleUploadedFile("noise.png", original, content_type="image/png")
    response = client.post(url, {"title": "Song", "links": "", "artwork_file": upload})
    assert response.status_code == 302, response.content.decode()[:2000]
    with Track.objects.get(pk=track.pk).artwork.open("rb") as stored:
        assert stored.read() == artwork_from_bytes(original)


def test_a_bad_image_or_link_is_a_form_error_and_changes_nothing(client, rights_holder, track):
    client.force_login(rights_holder)
    url = reverse("admin:catalog_track_change", args=[track.pk])
    text = SimpleUploadedFile("cover.png", b"GIF89a<script>alert(1)</script>", content_type="image/png")
    response = client.post(url, {"title": "Renamed", "artwork_file": text, "links": "javascript:alert(1)"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "This is not a JPEG, PNG or WebP image." in page and "Enter a valid URL." in page
    fresh = Track.objects.get(pk=track.pk)
    assert fresh.title == "Song" and not fresh.artwork and fresh.links == []


def test_album_artwork_from_the_album_form(client, rights_holder, other_rights_holder):
    album = AlbumFactory(owner=rights_holder, title="Demos")
    client.force_login(rights_holder)
    url = reverse("admin:catalog_album_change", args=[album.pk])
    response = client.post(url, {"title": "Demos", "release_year": "2026", "artwork_file": _png()})
    assert response.status_code == 302
    fresh = Album.objects.get(pk=album.pk)
    assert fresh.release_year == 2026 and fresh.artwork.name.endswith(".jpg")
    theirs = AlbumFactory(owner=other_rights_holder)
    forbidden = reverse("admin:catalog_album_change", args=[theirs.pk])
    assert client.post(forbidden, {"title": "Mine now", "artwork_file": _png()}).status_code == 404
    assert not Album.objects.get(pk=theirs.pk).artwork
