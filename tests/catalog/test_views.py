"""The public track pages: artwork and previews, served only as their owners allow."""

import io

import pytest
from PIL import Image

from catalog import selectors
from catalog.demo import synth_song
from catalog.models import Track
from catalog.services import album_artwork_set, track_artwork_set, track_update
from recognition.services import track_ingest
from tests import media
from tests.factories import AlbumFactory, TrackFactory

pytestmark = pytest.mark.django_db


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), colour).save(out, "PNG")
    return out.getvalue()


def _colour(response) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(response.content)).convert("RGB").getpixel((100, 100))


def test_a_track_shows_its_own_artwork_else_its_albums(client, rights_holder):
    album = AlbumFactory(owner=rights_holder)
    album_artwork_set(album=album, image=_png((0, 0, 255)))
    track = TrackFactory(owner=rights_holder, album=album, fingerprint_status="ready")
    response = client.get(f"/tracks/{track.pk}/artwork")  # anonymous: the listen page is public
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert _colour(response)[2] > 200
    track_artwork_set(track=track, image=_png((255, 0, 0)))
    assert _colour(client.get(f"/tracks/{track.pk}/artwork"))[0] > 200
    track_artwork_set(track=track, image=None)
    album_artwork_set(album=album, image=None)
    assert client.get(f"/tracks/{track.pk}/artwork").status_code == 404


def test_an_unfinished_upload_shows_nothing_to_anyone_but_its_owner(client, rights_holder):
    track = TrackFactory(owner=rights_holder)  # pending
    track_artwork_set(track=track, image=_png("red"))
    assert client.get(f"/tracks/{track.pk}/artwork").status_code == 404
    client.force_login(rights_holder)
    assert client.get(f"/tracks/{track.pk}/artwork").status_code == 200


@pytest.fixture
def previewed(rights_holder, tmp_path):
    path = media.write_wav(tmp_path / "song.wav", synth_song(75, 40))
    track = track_ingest(path=path, owner=rights_holder).track
    track_update(track=track, preview_allowed=True)
    return Track.objects.get(pk=track.pk)


def test_a_preview_is_served_with_byte_ranges(client, previewed):
    whole = client.get(f"/tracks/{previewed.pk}/preview")
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/mpeg"
    assert whole["Accept-Ranges"] == "bytes" and len(whole.content) > 100_000
    part = client.get(f"/tracks/{previewed.pk}/preview", HTTP_RANGE="bytes=0-1")
    assert part.status_code == 206 and part.content == whole.content[:2]
    assert part["Content-Range"] == f"bytes 0-1/{len(whole.content)}"
    tail = client.get(f"/tracks/{previewed.pk}/preview", HTTP_RANGE="bytes=-100")
    assert tail.status_code == 206 and tail.content == whole.content[-100:]
    past = client.get(f"/tracks/{previewed.pk}/preview", HTTP_RANGE=f"bytes={len(whole.content)}-")
    assert past.status_code == 416
    assert client.post(f"/tracks/{previewed.pk}/preview").status_code == 405


def test_a_preview_is_gone_once_its_owner_forbids_it(client, previewed):
    # Even with its file still stored (a deletion waits for the commit), the flag decides.
    Track.objects.filter(pk=previewed.pk).update(preview_allowed=False)
    assert client.get(f"/tracks/{previewed.pk}/preview").status_code == 404


def test_the_track_page_shows_artwork_links_and_preview_as_the_owner_allows(client, previewed):
    track_artwork_set(track=previewed, image=_png((0, 255, 0)))
    track_update(track=previewed, links=["https://open.spotify.com/track/abc", "https://example.org/song"])
    page = client.get(f"/tracks/{previewed.pk}/").content.decode()
    artwork = Track.objects.select_related("album").get(pk=previewed.pk)
    assert f'src="{selectors.track_artwork_url(artwork)}"' in page
    assert f'src="/tracks/{previewed.pk}/preview?v=' in page
    assert 'href="https://open.spotify.com/track/abc"' in page and ">Spotify</a>" in page
    assert 'href="https://example.org/song"' in page
    track_update(track=previewed, preview_allowed=False, links=[])
    track_artwork_set(track=previewed, image=None)
    bare = client.get(f"/tracks/{previewed.pk}/").content.decode()
    assert "/preview" not in bare and "/artwork" not in bare and "spotify" not in bare
    assert "♪" in bare  # the same empty artwork as the listen card's
