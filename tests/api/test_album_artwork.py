"""Album artwork through the API: its owner fetches, sets, replaces and removes it; others get 404;
a hostile image is refused with a 4xx and leaves the old artwork as it was (RELIABILITY.md G6)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.services import api_key_create
from catalog.artwork import MAX_ARTWORK_BYTES
from catalog.models import Album
from catalog.services import album_artwork_set
from tests import media
from tests.factories import AlbumFactory, TrackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def album(rights_holder):
    """An album of the rights holder with artwork already set."""
    album = AlbumFactory(owner=rights_holder, title="Low Tide")
    return album_artwork_set(album=album, image=_image("PNG", (500, 500), (200, 40, 40)))


def _image(fmt="PNG", size=(800, 500), colour=(30, 90, 200), mode="RGB", **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, fmt, **save)
    return out.getvalue()


def _upload(data: bytes, name="cover.png", content_type="image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _served(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/jpeg"
    return b"".join(response.streaming_content)


def test_the_owner_sets_fetches_replaces_and_removes_it(
    api, holder_key, rights_holder, django_capture_on_commit_callbacks
):
    album = AlbumFactory(owner=rights_holder, title="Low Tide")
    track = TrackFactory(owner=rights_holder, album=album, fingerprint_status="ready")
    url = f"/api/v1/albums/{album.pk}/artwork"
    api.as_key(holder_key)
    assert api.get(url).json()["error"]["code"] == "not_found"  # none yet
    listed = api.get("/api/v1/albums").json()["results"]
    assert [(a["id"], a["title"], a["artwork_url"]) for a in listed] == [(album.pk, "Low Tide", None)]

    first = api.put(url, {"image": _upload(_image("PNG", (800, 500)))}, format="multipart")
    assert first.status_code == 200, first.content
    assert first.json()["id"] == album.pk and first.json()["artwork_url"].startswith(f"{url}?v=")
    served = _decoded(_served(api.get(first.json()["artwork_url"], HTTP_ACCEPT="image/*")))
    assert (served.format, served.size) == ("JPEG", (500, 500))  # re-encoded, cropped square
    # Its tracks without artwork of their own show it to listeners.
    assert api.get(f"/api/v1/tracks/{track.pk}").json()["artwork_url"].startswith(f"/tracks/{track.pk}/artwork?v=")

    storage = Album.artwork.field.storage
    first_name = Album.objects.get(pk=album.pk).artwork.name
    with django_capture_on_commit_callbacks(execute=True):
        second = api.post(url, {"image": _upload(_image("WEBP", (300, 300)), "cover.webp", "image/webp")})
    assert second.status_code == 200, second.content
    assert second.json()["artwork_url"] != first.json()["artwork_url"]
    assert _decoded(_served(api.get(url))).size == (300, 300)
    assert not storage.exists(first_name)  # the replaced file is deleted once the change is committed

    second_name = Album.objects.get(pk=album.pk).artwork.name
    with django_capture_on_commit_callbacks(execute=True):
        removed = api.delete(url)
    assert removed.status_code == 200 and removed.json()["artwork_url"] is None
    assert api.get(url).status_code == 404 and not storage.exists(second_name)
    assert api.get(f"/api/v1/tracks/{track.pk}").json()["artwork_url"] is None


def _call(api, method: str, url: str):
    if method in ("put", "post"):
        return getattr(api, method)(url, {"image": _upload(_image())}, format="multipart")
    return getattr(api, method)(url)


def test_another_holder_gets_404_and_a_key_that_may_not_write_gets_403(
    api, album, other_key, partner_key, rights_holder
):
    url = f"/api/v1/albums/{album.pk}/artwork"
    before = album.artwork.name
    api.as_key(other_key)
    assert api.get("/api/v1/albums").json()["results"] == []
    for method in ("get", "put", "post", "delete"):
        response = _call(api, method, url)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found"), method
    # A partner's catalog key reads the catalog but writes nothing of it; their GET finds no album.
    api.as_key(partner_key)
    assert _call(api, "get", url).status_code == 404
    for method in ("put", "post", "delete"):
        response = _call(api, method, url)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "permission_denied"), method
    # The owner's own key without the catalog scope opens nothing here.
    api.as_key(api_key_create(user=rights_holder, name="recognition only", scopes=["recognize"])[1])
    for method in ("get", "put", "post", "delete"):
        response = _call(api, method, url)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "missing_scope"), method
    assert Album.objects.get(pk=album.pk).artwork.name == before


def _svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>'


def _jpeg_header_then_zeros() -> SimpleUploadedFile:
    return _upload(b"\xff\xd8\xff\xe0" + bytes(4000), "cover.jpg", "image/jpeg")


def _real_bomb() -> SimpleUploadedFile:
    """7 000 x 7 000 pixels (49 million: over our limit, under Pillow's) in a few KB, a whole file."""
    return _upload(_image("PNG", (7_000, 7_000), 0, mode="1"))


def _one_byte_over_the_budget() -> SimpleUploadedFile:
    return _upload(b"\xff\xd8\xff" + bytes(MAX_ARTWORK_BYTES), "cover.jpg", "image/jpeg")


# (what it is, the upload, status, code). Every file is made here, none committed.
HOSTILE = [
    ("empty", lambda: _upload(b""), 400, "invalid"),
    ("corrupt: a truncated PNG", lambda: _upload(_image("PNG", (400, 400), (10, 200, 90))[:300]), 422, "decode_failed"),
    ("corrupt: a JPEG header then zeros", _jpeg_header_then_zeros, 415, "not_image"),
    (
        "bomb: a header of 50 000 x 50 000 px",
        lambda: _upload(media.png_header_only(50_000, 50_000)),
        422,
        "too_many_pixels",
    ),
    ("bomb: 7 000 x 7 000 px in a few KB", _real_bomb, 422, "too_many_pixels"),
    ("huge: one byte over 4 MiB", _one_byte_over_the_budget, 413, "too_large"),
    ("SVG with a script", lambda: _upload(_svg(), "cover.svg", "image/svg+xml"), 415, "not_image"),
    ("SVG that says it is a PNG", lambda: _upload(_svg(), "cover.png", "image/png"), 415, "not_image"),
    (
        "HTML that says it is a JPEG",
        lambda: _upload(b"<script>alert(1)</script>", "a.jpg", "image/jpeg"),
        415,
        "not_image",
    ),
    ("GIF that says it is a PNG", lambda: _upload(_image("GIF", (300, 300))), 415, "not_image"),
    ("PDF that says it is a WebP", lambda: _upload(b"%PDF-1.4\n%\xe2\xe3", "a.webp", "image/webp"), 415, "not_image"),
    ("too small", lambda: _upload(_image("PNG", (20, 20))), 422, "too_small"),
]


@pytest.mark.parametrize(("upload", "status", "code"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
@pytest.mark.parametrize("method", ["put", "post"])
def test_a_hostile_image_is_refused_and_the_old_artwork_stays(
    api, holder_key, album, method, upload, status, code, django_capture_on_commit_callbacks
):
    url = f"/api/v1/albums/{album.pk}/artwork"
    api.as_key(holder_key)
    before = _served(api.get(url))
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(api, method)(url, {"image": upload()}, format="multipart")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.content
    assert response.json()["error"]["message"]
    assert Album.objects.get(pk=album.pk).artwork.name == album.artwork.name
    assert _served(api.get(url)) == before


def test_two_images_in_one_request_are_a_400(api, holder_key, album):
    response = api.as_key(holder_key).put(
        f"/api/v1/albums/{album.pk}/artwork", {"image": [_upload(_image()), _upload(_image())]}, format="multipart"
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "too_many_files")
    assert Album.objects.get(pk=album.pk).artwork.name == album.artwork.name


def test_a_body_that_is_not_a_form_is_a_415(api, holder_key, album):
    response = api.as_key(holder_key).put(f"/api/v1/albums/{album.pk}/artwork", _image(), content_type="image/png")
    assert (response.status_code, response.json()["error"]["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("sent", "name", "content_type"),
    [
        (_image("PNG", (400, 400)), "cover.jpg", "image/jpeg"),  # a real image: the bytes decide, not the name
        (_image("JPEG", (400, 400)), "cover.png", "application/octet-stream"),
        # A polyglot: a JPEG carrying metadata and a script, neither of which is ever served.
        (
            _image("JPEG", (400, 400), comment=b"<?php system(1); ?>") + b"<script>alert(1)</script>",
            "c.jpg",
            "image/jpeg",
        ),
    ],
)
def test_a_real_image_is_taken_for_what_it_is_and_served_re_encoded(api, holder_key, album, sent, name, content_type):
    url = f"/api/v1/albums/{album.pk}/artwork"
    response = api.as_key(holder_key).put(url, {"image": _upload(sent, name, content_type)}, format="multipart")
    assert response.status_code == 200, response.content
    served = _served(api.get(url))
    assert _decoded(served).format == "JPEG" and b"<script>" not in served and b"<?php" not in served
