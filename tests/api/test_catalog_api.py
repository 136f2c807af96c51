"""The catalog API: search for everyone signed in; writes for the owner only; no mass assignment."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from accounts.services import api_key_create
from catalog.demo import synth_song
from catalog.models import Track
from recognition import store
from tests import media
from tests.factories import ArtistFactory, TrackFactory

pytestmark = pytest.mark.django_db


def _audio(tmp_path, seed=81, seconds=20):
    path = media.write_wav(tmp_path / f"ref{seed}.wav", synth_song(seed, seconds))
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_search_by_title_artist_and_isrc(api, partner_key, rights_holder):
    band = ArtistFactory(name="The Examples", owner=rights_holder)
    TrackFactory(title="Night Drive", owner=rights_holder, fingerprint_status="ready").artists.add(band)
    TrackFactory(title="Morning Walk", owner=rights_holder, isrc="GBAYE0601498", fingerprint_status="ready")
    api.as_key(partner_key)
    assert [t["title"] for t in api.get("/api/v1/tracks", {"q": "night"}).json()["results"]] == ["Night Drive"]
    assert [t["title"] for t in api.get("/api/v1/tracks", {"q": "examples"}).json()["results"]] == ["Night Drive"]
    assert [t["title"] for t in api.get("/api/v1/tracks", {"isrc": "GBAYE0601498"}).json()["results"]] == [
        "Morning Walk"
    ]
    page = api.get("/api/v1/tracks").json()
    assert page["count"] == 2 and set(page["results"][0]) >= {"id", "title", "artists", "isrc", "owned_by_me"}


def test_search_refuses_bad_parameters_with_400(api, partner_key, holder_key, rights_holder, other_rights_holder):
    """Found by schemathesis: a NUL byte in `q` reached PostgreSQL and came back as a 500."""
    TrackFactory(title="Mine", owner=rights_holder)
    TrackFactory(title="Theirs", owner=other_rights_holder)
    api.as_key(partner_key)
    for params in ({"q": "night\x00drive"}, {"isrc": "GB\x00"}, {"q": "x" * 201}, {"mine": "perhaps"}):
        response = api.get("/api/v1/tracks", params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"]
    api.as_key(holder_key)
    assert [t["title"] for t in api.get("/api/v1/tracks", {"mine": "true"}).json()["results"]] == ["Mine"]


def test_rights_holder_creates_a_track_with_audio_and_cannot_set_server_fields(
    api, holder_key, rights_holder, other_rights_holder, tmp_path
):
    response = api.as_key(holder_key).post(
        "/api/v1/tracks",
        {
            "title": "Fresh Cut",
            "artists": ["Ana", "Ben"],
            "album": "Demos",
            "isrc": "USRC17607839",
            "audio": _audio(tmp_path),
            "owner": other_rights_holder.pk,
            "hash_count": 5,
            "sha256": "0" * 64,
            "fingerprint_status": "failed",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    track = Track.objects.get(pk=body["id"])
    assert track.owner == rights_holder and body["owned_by_me"] is True
    assert track.hash_count == store.count_track_rows(track.pk) > 100 and track.hash_count != 5
    assert track.sha256 != "0" * 64 and track.fingerprint_status == "ready"
    assert body["artists"] == ["Ana", "Ben"] and body["album"] == "Demos"
    changed = api.patch(
        f"/api/v1/tracks/{track.pk}",
        {"title": "Final Cut", "owner": other_rights_holder.pk, "hash_count": 1, "sha256": "f" * 64},
        format="json",
    )
    assert changed.status_code == 200
    track.refresh_from_db()
    assert track.title == "Final Cut" and track.owner == rights_holder and track.hash_count > 100


def test_another_owners_track_is_a_404_to_writes(api, holder_key, other_key, tmp_path):
    mine = (
        api.as_key(holder_key)
        .post("/api/v1/tracks", {"title": "Mine", "audio": _audio(tmp_path)}, format="multipart")
        .json()["id"]
    )
    api.as_key(other_key)
    assert api.get(f"/api/v1/tracks/{mine}").status_code == 200  # the catalog is public to read
    assert api.patch(f"/api/v1/tracks/{mine}", {"title": "Stolen"}, format="json").status_code == 404
    assert api.delete(f"/api/v1/tracks/{mine}").status_code == 404
    assert (
        api.put(f"/api/v1/tracks/{mine}/audio", {"audio": _audio(tmp_path, 82)}, format="multipart").status_code == 404
    )
    assert Track.objects.get(pk=mine).title == "Mine"


def test_bad_reference_audio_and_duplicates(api, holder_key, tmp_path):
    api.as_key(holder_key)
    text = SimpleUploadedFile("x.mp3", b"not audio" * 100)
    response = api.post("/api/v1/tracks", {"title": "Bad", "audio": text}, format="multipart")
    assert response.status_code == 415 and response.json()["error"]["code"] == "not_media"
    assert api.post("/api/v1/tracks", {"title": "A", "audio": _audio(tmp_path)}, format="multipart").status_code == 201
    again = api.post("/api/v1/tracks", {"title": "B", "audio": _audio(tmp_path)}, format="multipart")
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"
    assert Track.objects.count() == 1


def test_replace_and_delete_own_track(api, holder_key, tmp_path):
    api.as_key(holder_key)
    track_id = api.post("/api/v1/tracks", {"title": "T", "audio": _audio(tmp_path)}, format="multipart").json()["id"]
    first = Track.objects.get(pk=track_id).sha256
    replaced = api.put(f"/api/v1/tracks/{track_id}/audio", {"audio": _audio(tmp_path, 83)}, format="multipart")
    assert replaced.status_code == 200
    track = Track.objects.get(pk=track_id)
    assert track.sha256 != first and store.count_track_rows(track_id) == track.hash_count
    assert api.delete(f"/api/v1/tracks/{track_id}").status_code == 204
    assert store.count_track_rows(track_id) == 0 and not Track.objects.exists()


@pytest.mark.parametrize("role", [Role.MONITOR, Role.CREATOR, Role.PARTNER])  # listeners hold no keys
def test_only_rights_holders_and_staff_write(api, make_user, role, tmp_path):
    key = api_key_create(user=make_user(role), name="k")[1]
    response = api.as_key(key).post("/api/v1/tracks", {"title": "X", "audio": _audio(tmp_path)}, format="multipart")
    assert response.status_code == 403 and not Track.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_identical_uploads_make_one_track(holder_key, tmp_path):
    """G11: the content's SHA-256 is unique, so racing uploads of the same bytes give one track."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from rest_framework.test import APIClient

    path = media.write_wav(tmp_path / "same.wav", synth_song(83, 20))
    body = path.read_bytes()

    def upload(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {holder_key}")
        try:
            audio = SimpleUploadedFile("same.wav", body)
            return client.post("/api/v1/tracks", {"title": f"Same {i}", "audio": audio}, format="multipart").status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(upload, range(8)))
    assert statuses == [201] + [409] * 7
    assert Track.objects.count() == 1
    track = Track.objects.get()
    assert store.count_track_rows(track.pk) == track.hash_count > 100


def test_no_serializer_takes_all_fields_or_excludes():
    """G14: every writable shape lists its fields; a model field added later is never writable by default."""
    import inspect

    from rest_framework import serializers as drf

    import catalog.api.serializers
    import recognition.api.serializers

    found = []
    for module in (catalog.api.serializers, recognition.api.serializers):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, drf.BaseSerializer) and cls.__module__ == module.__name__:
                found.append(name)
                meta = getattr(cls, "Meta", None)
                assert getattr(meta, "fields", None) != "__all__", name
                assert not hasattr(meta, "exclude"), name
    assert len(found) >= 5


def _png(size=(400, 400)) -> SimpleUploadedFile:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (30, 90, 200)).save(out, "PNG")
    return SimpleUploadedFile("cover.png", out.getvalue(), content_type="image/png")


def test_links_and_previews_are_the_rights_holders_to_set(api, holder_key, partner_key, tmp_path):
    api.as_key(holder_key)
    created = api.post(
        "/api/v1/tracks",
        {"title": "Linked", "audio": _audio(tmp_path, seed=82), "links": ["https://open.spotify.com/track/1",
         "https://label.example/linked"], "preview_allowed": "true"},
        format="multipart",
    ).json()  # fmt: skip
    assert created["links"] == ["https://open.spotify.com/track/1", "https://label.example/linked"]
    assert created["preview_allowed"] is True and created["preview_url"].startswith(f"/tracks/{created['id']}/preview")
    assert api.get(created["preview_url"]).status_code == 200
    changed = api.patch(
        f"/api/v1/tracks/{created['id']}",
        {"links": ["https://examples.bandcamp.com/track/linked"], "preview_allowed": False, "preview": "x.mp3"},
        format="json",
    ).json()
    assert changed["links"] == ["https://examples.bandcamp.com/track/linked"]
    assert changed["preview_allowed"] is False and changed["preview_url"] is None
    assert not Track.objects.get(pk=created["id"]).preview
    api.as_key(partner_key)
    assert api.patch(f"/api/v1/tracks/{created['id']}", {"links": []}, format="json").status_code == 403


@pytest.mark.parametrize(
    "links",
    [["javascript:alert(1)"], ["https://user:secret@label.example/"], [f"https://a.example/{n}" for n in range(9)]],
)
def test_a_link_that_is_not_a_plain_web_address_is_a_400(api, holder_key, rights_holder, links):
    track = TrackFactory(owner=rights_holder, fingerprint_status="ready")
    response = api.as_key(holder_key).patch(f"/api/v1/tracks/{track.pk}", {"links": links}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"
    assert "links" in response.json()["error"]["details"]
    assert Track.objects.get(pk=track.pk).links == []


def test_artwork_is_set_and_removed_through_the_api(api, holder_key, other_key, rights_holder, client):
    track = TrackFactory(owner=rights_holder, fingerprint_status="ready")
    url = f"/api/v1/tracks/{track.pk}/artwork"
    assert api.as_key(other_key).put(url, {"image": _png()}, format="multipart").status_code == 404
    body = api.as_key(holder_key).put(url, {"image": _png()}, format="multipart").json()
    assert body["artwork_url"].startswith(f"/tracks/{track.pk}/artwork?v=")
    served = client.get(body["artwork_url"])
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert api.delete(url).json()["artwork_url"] is None
    assert client.get(f"/tracks/{track.pk}/artwork").status_code == 404


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (SimpleUploadedFile("cover.png", b"<svg onload=alert(1)>", content_type="image/png"), 415, "not_image"),
        (SimpleUploadedFile("cover.png", b"", content_type="image/png"), 400, "invalid"),
        ("tiny", 422, "too_small"),
    ],
)
def test_what_is_not_usable_artwork_is_refused_with_its_code(api, holder_key, rights_holder, upload, status, code):
    track = TrackFactory(owner=rights_holder, fingerprint_status="ready")
    upload = _png(size=(20, 20)) if upload == "tiny" else upload
    response = api.as_key(holder_key).put(f"/api/v1/tracks/{track.pk}/artwork", {"image": upload}, format="multipart")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not Track.objects.get(pk=track.pk).artwork


def test_search_counts_to_a_cap_and_next_leads_to_every_match(api, partner_key, rights_holder, monkeypatch):
    """Past the cap `count` is the cap and `count_is_exact` false; `next` still walks every page."""
    from portal.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "count_cap", 3)
    monkeypatch.setattr("portal.pagination.CappedPageNumberPagination.page_size", 2)
    for i in range(7):
        TrackFactory(title=f"River {i}", owner=rights_holder, fingerprint_status="ready")
    TrackFactory(title="Night", owner=rights_holder, fingerprint_status="ready")
    api.as_key(partner_key)
    page = api.get("/api/v1/tracks", {"q": "river"}).json()
    assert (page["count"], page["count_is_exact"], page["previous"]) == (3, False, None)
    titles = [track["title"] for track in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        assert (page["count"], page["count_is_exact"]) == (3, False)
        titles += [track["title"] for track in page["results"]]
    assert titles == [f"River {i}" for i in range(7)]
    assert api.get("/api/v1/tracks", {"q": "river", "page": 5}).status_code == 404
    exact = api.get("/api/v1/tracks", {"q": "night"}).json()
    assert (exact["count"], exact["count_is_exact"], exact["next"]) == (1, True, None)
