"""An upload's results page: the timeline laid out, the player's media in byte ranges (its owner
only), the CSV and JSON exports, and the history that lists every song of an upload."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from recognition import selectors
from recognition.models import Recognition
from tests.factories import ArtistFactory, TrackFactory
from tests.recognition import test_uploads

s3_server = test_uploads.s3_server  # a real S3-compatible server (moto), as the upload tests use


@pytest.fixture
def creator(make_user):
    return make_user(Role.CREATOR, username="creator_a")


@pytest.fixture
def songs(make_user):
    """Two tracks of a rights holder known by a full name, one of them with a hostile title."""
    holder = make_user(Role.RIGHTS_HOLDER, username="harbour", first_name="Harbour", last_name="Records")
    artist = ArtistFactory(owner=holder, name="The Examples")
    first = TrackFactory(owner=holder, title="Harbour Lights")
    second = TrackFactory(owner=holder, title='=HYPERLINK("http://evil.example")')
    for track in (first, second):
        track.artists.add(artist)
    return first, second


def _segment(track, start_s, end_s, offset_s=10.0, confidence=0.95):
    return {
        "track_id": track.pk, "title": track.title, "artist": "The Examples",
        "start_s": start_s, "end_s": end_s, "offset_s": offset_s, "confidence": confidence,
    }  # fmt: skip


def _done_job(user, segments, *, heard_s=67.0, media: bytes | None = None, name="vlog.mp4") -> Recognition:
    job = Recognition.objects.create(
        user=user, source=Recognition.Source.UPLOAD, status=Recognition.Status.DONE, original_name=name,
        heard_s=heard_s, media_duration_s=heard_s, latency_ms=1834.0, segments=segments,
        finished_at=timezone.now(), progress=1.0, keep_media=media is not None,
    )  # fmt: skip
    if media is not None:
        job.media.save(name, ContentFile(media), save=True)
    return job


@pytest.mark.django_db
def test_the_timeline_orders_segments_names_owners_and_shows_what_is_unmatched(creator, songs):
    first, second = songs
    job = _done_job(creator, [_segment(second, 24.0, 39.0, 5.0), _segment(first, 0.4, 20.0, 10.0)])
    timeline = selectors.upload_timeline(job)
    assert [b["title"] for b in timeline["bars"]] == ["Harbour Lights", second.title]  # in time order
    assert [b["index"] for b in timeline["bars"]] == [1, 2]
    assert {b["owner"] for b in timeline["bars"]} == {"Harbour Records"}  # the full name, not "harbour"
    assert timeline["bars"][0]["offset_end_s"] == pytest.approx(29.6)
    # 0-0.4 s is under a second (the matcher's rounding); 20-24 s and 39-67 s are not music of the catalog.
    assert [(g["start_s"], g["end_s"]) for g in timeline["gaps"]] == [(20.0, 24.0), (39.0, 67.0)]
    assert timeline["unmatched_s"] == pytest.approx(32.0) and timeline["songs"] == 2
    assert [t["at_s"] for t in timeline["ticks"]] == [0, 15, 30, 45, 60]
    assert timeline["bars"][1]["left_pct"] == pytest.approx(100 * 24 / 67, abs=0.001)


@pytest.mark.django_db
def test_the_page_shows_times_owners_and_confidence_in_words(client, creator, songs):
    first, second = songs
    job = _done_job(
        creator, [_segment(first, 0.4, 20.0, 10.0, 0.95), _segment(second, 285.9, 300.0, 61.0, 0.5)], heard_s=310
    )
    client.force_login(creator)
    html = client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    assert "0:00–0:20" in html and "4:46–5:00" in html  # m:ss, never "285.9 s"
    assert "1:01–1:15 of the song" in html and "very high confidence" in html and "good confidence" in html
    assert "rights: Harbour Records" in html and html.count('class="timeline-bar"') == 2
    assert "285.9" not in html.replace('data-start-s="285.9"', "") and "0.9500" not in html
    assert "5:10 scanned in 1.8 s" in html
    assert 'data-testid="no-player"' in html  # the file was not kept: no player, and it says why


@pytest.mark.django_db
def test_an_hour_of_many_songs_stays_one_compact_list_with_ten_minute_ticks(client, creator, songs):
    segments = [_segment(songs[i % 2], 60.0 * i + 5, 60.0 * i + 50) for i in range(60)]
    job = _done_job(creator, segments, heard_s=3600.0)
    client.force_login(creator)
    html = client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    # 0:00-0:05, 59 pauses of 15 s between songs, and the last 10 s.
    assert html.count('data-testid="segment"') == 60 and html.count('class="timeline-gap"') == 61
    ticks = [t["at_s"] for t in selectors.upload_timeline(job)["ticks"]]
    assert ticks == [0, 600, 1200, 1800, 2400, 3000, 3600]
    assert ">1:00:00<" in html and ">10:00<" in html


@pytest.mark.django_db
def test_the_media_plays_for_its_owner_only_and_seeks_by_byte_range(client, creator, songs, make_user, staff):
    media = bytes(range(256)) * 40  # 10,240 bytes
    job = _done_job(creator, [_segment(songs[0], 0.0, 20.0)], media=media)
    url = reverse("recognition:upload_media", args=[job.pk])
    client.force_login(creator)
    page = client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    assert f'<video controls playsinline preload="metadata" src="{url}"' in page

    whole = client.get(url)
    assert whole.status_code == 200 and whole["Content-Type"] == "video/mp4" and whole["Accept-Ranges"] == "bytes"
    assert b"".join(whole) == media and whole["Content-Length"] == str(len(media))
    part = client.get(url, HTTP_RANGE="bytes=1000-1999")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 1000-1999/{len(media)}"
    assert b"".join(part) == media[1000:2000]
    tail = client.get(url, HTTP_RANGE="bytes=-100")
    assert tail.status_code == 206 and b"".join(tail) == media[-100:]
    beyond = client.get(url, HTTP_RANGE=f"bytes={len(media)}-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == f"bytes */{len(media)}"
    assert "sandbox" in whole["Content-Security-Policy"]  # never runs as a page of the site

    for other in (staff, make_user(Role.CREATOR)):  # staff see the results, not the file
        client.force_login(other)
        assert client.get(url).status_code == 404
    client.force_login(staff)
    assert 'data-testid="player"' not in client.get(reverse("recognition:upload", args=[job.pk])).content.decode()


@pytest.mark.django_db
def test_exports_are_a_download_with_formulas_defused_and_raw_numbers(client, creator, songs):
    first, second = songs
    job = _done_job(
        creator,
        [_segment(first, 0.4, 20.0, 10.0, 0.95), _segment(second, 285.9, 300.0, 61.0, 0.5)],
        name="My =vlog.mp4",
    )
    client.force_login(creator)
    response = client.get(reverse("recognition:upload_export", args=[job.pk, "csv"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="My-vlog-songs.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["title"] for r in rows] == ["Harbour Lights", "'" + second.title]  # not run by a spreadsheet
    assert rows[1]["start"] == "0:04:46" and rows[1]["start_s"] == "285.9"  # h:mm:ss, read as a duration
    assert rows[1]["rights_holder"] == "Harbour Records" and rows[1]["confidence_label"] == "good"

    body = json.loads(client.get(reverse("recognition:upload_export", args=[job.pk, "json"])).content)
    assert body["segments"][1]["start_s"] == 285.9 and body["segments"][1]["confidence"] == 0.5
    assert body["segments"][1]["title"] == second.title and body["file"] == "My =vlog.mp4"
    assert client.get(reverse("recognition:upload_export", args=[job.pk, "xml"])).status_code == 404
    client.force_login(songs[0].owner)  # not theirs
    assert client.get(reverse("recognition:upload_export", args=[job.pk, "csv"])).status_code == 404


@pytest.mark.django_db
def test_history_lists_every_song_of_an_upload_and_links_to_it(client, creator, songs):
    first, second = songs
    job = _done_job(creator, [_segment(first, 0.0, 20.0), _segment(second, 24.0, 39.0), _segment(first, 47.0, 67.0)])
    Recognition.objects.create(
        user=creator, source=Recognition.Source.MICROPHONE, status=Recognition.Status.DONE, track=second,
        offset_s=83.2, confidence=0.8, heard_s=6.1, latency_ms=19813,
    )  # fmt: skip
    many = _done_job(creator, [_segment(first, 30.0 * i, 30.0 * i + 20) for i in range(8)], heard_s=300)
    client.force_login(creator)
    html = client.get(reverse("recognition:history")).content.decode()
    upload_url = reverse("recognition:upload", args=[job.pk])
    assert f'<a href="{upload_url}" data-testid="history-upload">vlog.mp4</a>' in html
    assert html.count('data-testid="history-song"') == 3 + 1 + selectors.HISTORY_SONGS_SHOWN
    assert "0:24–0:39 in the recording" in html and "0:47–1:07 in the recording" in html
    assert "1:23 into the song" in html and "high confidence" in html
    assert "20 s" in html and "6.1 s" in html  # answered in 19813 ms, heard 6.1 s
    assert f'href="{reverse("recognition:upload", args=[many.pk])}" data-testid="history-more">and 3 more' in html


@pytest.mark.django_db
def test_a_song_played_fast_says_so_on_the_page_in_the_exports_and_in_history(client, creator, songs):
    """A segment the engine found 10 % fast (speed 1.1) says "played 10 % fast" in its row, on its
    bar and in the history, and runs 10 % further through the song; one as recorded says nothing."""
    first, second = songs
    fast = {**_segment(first, 0.0, 20.0, 10.0), "speed": 1.1, "pitch_semitones": None}
    job = _done_job(creator, [fast, _segment(second, 24.0, 39.0, 5.0)])  # stored before changes were reported
    bars = selectors.upload_timeline(job)["bars"]
    assert [b["change"] for b in bars] == ["played 10 % fast", ""] and bars[1]["speed"] is None
    assert bars[0]["offset_end_s"] == pytest.approx(32.0) and bars[1]["offset_end_s"] == pytest.approx(20.0)
    client.force_login(creator)
    html = client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    assert html.count('data-testid="segment-change">played 10 % fast<') == 1
    assert 'title="Harbour Lights: 0:00–0:20, played 10 % fast"' in html and "0:10–0:32 of the song" in html
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(reverse("recognition:upload_export", args=[job.pk, "csv"])).content.decode())
        )
    )
    assert [(r["speed"], r["pitch_semitones"], r["change"]) for r in rows] == [
        ("1.1", "", "played 10 % fast"),
        ("", "", ""),
    ]
    body = json.loads(client.get(reverse("recognition:upload_export", args=[job.pk, "json"])).content)
    assert [(s["speed"], s["pitch_semitones"]) for s in body["segments"]] == [(1.1, None), (None, None)]
    history = client.get(reverse("recognition:history")).content.decode()
    assert history.count('data-testid="history-change">played 10 % fast<') == 1


@pytest.mark.django_db
def test_media_kept_in_s3_plays_through_a_signed_url_that_answers_ranges(client, creator, songs, settings, s3_server):
    import urllib.request

    import boto3

    boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket="earshot-uploads")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "earshot-uploads", "endpoint_url": s3_server, "access_key": "test",
                "secret_key": "test", "region_name": "us-east-1", "querystring_auth": True,
            },
        },
    }  # fmt: skip
    media = bytes(range(256)) * 8
    job = _done_job(creator, [_segment(songs[0], 0.0, 20.0)], media=media, name="clip.webm")
    client.force_login(creator)
    response = client.get(reverse("recognition:upload_media", args=[job.pk]))
    assert response.status_code == 302 and response["Location"].startswith(s3_server)
    assert "Signature" in response["Location"]  # signed, short-lived: the bucket stays private
    request = urllib.request.Request(response["Location"], headers={"Range": "bytes=100-199"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as part:  # noqa: S310 - the local S3 server
        assert part.status == 206 and part.read() == media[100:200]
