"""POST /api/v1/recognitions: clips at once, long media as jobs with signed webhooks; hostile files."""

import datetime
import hashlib
import hmac
import http.server
import json
import threading
import time

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from accounts.services import api_key_create
from catalog.demo import synth_song
from recognition.models import Recognition, WebhookDelivery
from recognition.services import track_ingest
from recognition.services.webhooks import BACKOFF_S, recognition_payload, webhook_deliver
from tests import hostile, media

RATE = media.FILE_RATE
URL = "/api/v1/recognitions"


@pytest.fixture
def catalog(rights_holder, tmp_path):
    tracks = {}
    for seed, title in ((71, "Blue Hour"), (72, "Copper Sky")):
        path = media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, 60))
        tracks[seed] = track_ingest(path=path, owner=rights_holder, title=title, store_audio=False).track
    return tracks


def _file(path):
    return SimpleUploadedFile(path.name, path.read_bytes())


@pytest.mark.django_db
def test_a_catalog_clip_is_recognised_in_the_request(api, partner_key, catalog, tmp_path):
    clip = media.encode(synth_song(71, 60)[RATE * 30 : RATE * 38], tmp_path / "clip.m4a", RATE)
    response = api.as_key(partner_key).post(URL, {"file": _file(clip)}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "done" and body["match"]["track_id"] == catalog[71].pk
    assert body["match"]["title"] == "Blue Hour" and abs(body["match"]["offset_s"] - 30) < 0.5
    assert body["match"]["confidence"] > 0.999 and body["url"].endswith(body["id"])
    again = api.get(body["url"])
    assert again.status_code == 200 and again.json()["match"] == body["match"]


@pytest.mark.django_db
def test_a_clip_played_fast_reports_its_speed_and_a_clip_as_recorded_null(api, partner_key, catalog, tmp_path):
    song = synth_song(71, 60)
    fast = media.write_wav(tmp_path / "fast.wav", media.played_faster(song[RATE * 30 : RATE * 39], 1.02)[: RATE * 8])
    heard = media.write_wav(tmp_path / "heard.wav", song[RATE * 30 : RATE * 38])
    sped = api.as_key(partner_key).post(URL, {"file": _file(fast)}, format="multipart").json()
    assert sped["match"]["track_id"] == catalog[71].pk and abs(sped["match"]["offset_s"] - 30) < 0.5
    assert sped["match"]["speed"] == pytest.approx(1.02, abs=0.005) and sped["match"]["pitch_semitones"] is None
    assert sped["segments"][0]["speed"] == sped["match"]["speed"] and api.get(sped["url"]).json() == sped
    assert Recognition.objects.get(pk=sped["id"]).speed == sped["match"]["speed"]
    as_heard = api.post(URL, {"file": _file(heard)}, format="multipart").json()
    assert as_heard["match"]["track_id"] == catalog[71].pk
    assert as_heard["match"]["speed"] is None and as_heard["match"]["pitch_semitones"] is None
    assert as_heard["segments"][0]["speed"] is None and as_heard["segments"][0]["pitch_semitones"] is None


@pytest.mark.django_db
def test_a_long_recording_played_fast_reports_its_speed_on_its_segment_and_in_the_webhook(
    api, partner_key, catalog, tmp_path, django_capture_on_commit_callbacks
):
    recording = media.played_faster(synth_song(72, 60)[RATE * 3 : RATE * 53], 1.012)
    path = media.encode(recording, tmp_path / "show.flac", RATE)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_key(partner_key).post(URL, {"file": _file(path)}, format="multipart")
    assert response.status_code == 202
    body = api.get(response.json()["url"]).json()
    [segment] = body["segments"]
    assert segment["track_id"] == catalog[72].pk and segment["pitch_semitones"] is None
    assert segment["speed"] == pytest.approx(1.012, abs=0.002) and body["match"]["speed"] == segment["speed"]
    job = Recognition.objects.get(pk=body["id"])
    assert recognition_payload(job)["segments"] == body["segments"]  # what the webhook sends
    # Segments stored before matches reported changes read as unchanged.
    job.segments = [{k: v for k, v in segment.items() if k not in {"speed", "pitch_semitones"}}]
    job.save(update_fields=["segments"])
    old = api.get(response.json()["url"]).json()["segments"][0]
    assert old["speed"] is None and old["pitch_semitones"] is None


@pytest.mark.django_db
def test_raw_pcm_and_unknown_audio(api, partner_key, catalog):
    pcm = (media.to_engine_rate(synth_song(72, 60))[8000 * 12 : 8000 * 18] * 32767).astype("<i2").tobytes()
    response = api.as_key(partner_key).generic("POST", URL + "?sample_rate=8000", pcm, content_type="audio/pcm")
    assert response.status_code == 200 and response.json()["match"]["track_id"] == catalog[72].pk
    unknown = (media.to_engine_rate(synth_song(7272, 6)) * 32767).astype("<i2").tobytes()
    response = api.generic("POST", URL + "?sample_rate=8000", unknown, content_type="audio/pcm")
    assert response.status_code == 200 and response.json()["match"] is None
    odd = api.generic("POST", URL + "?sample_rate=8000", b"\x00" * 3, content_type="audio/pcm")
    assert odd.status_code == 400 and odd.json()["error"]["code"] == "invalid"
    text = api.generic("POST", URL, b"hello", content_type="text/plain")
    assert text.status_code == 415


@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["audio/pcm", "application/octet-stream", "audio/pcm; charset=binary"])
def test_raw_pcm_without_its_rate_is_refused_naming_the_parameter(api, partner_key, catalog, content_type):
    """A catalog song at 16 kHz, sent without `sample_rate`: once read as 8 kHz and answered "no
    match" with 200; now a 400 that names the parameter, and nothing is recognised or stored."""
    from scipy import signal

    song = media.to_engine_rate(synth_song(72, 60))[8000 * 12 : 8000 * 18]
    pcm = (signal.resample_poly(song, 2, 1) * 32767).astype("<i2").tobytes()
    refused = api.as_key(partner_key).generic("POST", URL, pcm, content_type=content_type)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "missing_sample_rate" and "`sample_rate`" in error["message"]
    assert "8000 to 48000" in error["message"]
    assert not Recognition.objects.exists()
    answered = api.generic("POST", URL + "?sample_rate=16000", pcm, content_type=content_type)
    assert answered.status_code == 200 and answered.json()["match"]["track_id"] == catalog[72].pk


@pytest.mark.django_db
def test_partners_see_only_their_own_recognitions(api, partner_key, make_user, catalog, tmp_path):
    clip = media.write_wav(tmp_path / "c.wav", synth_song(71, 60)[RATE * 5 : RATE * 10])
    job_url = api.as_key(partner_key).post(URL, {"file": _file(clip)}, format="multipart").json()["url"]
    other_key = api_key_create(user=make_user(Role.PARTNER, username="partner_b"), name="b")[1]
    assert api.as_key(other_key).get(job_url).status_code == 404
    assert api.get(URL).json()["count"] == 0
    assert api.as_key(partner_key).get(URL).json()["count"] == 1


BACKOFF = datetime.timedelta(seconds=BACKOFF_S[0])


class _Receiver:
    """A webhook receiver on loopback that records what it gets and answers a programmed status."""

    def __init__(self, statuses):
        self.requests = []
        statuses = list(statuses)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(statuses.pop(0) if statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/earshot-hook"


def _verify(secret: str, headers: dict, body: bytes, tolerance_s: int = 300) -> bool:
    """What a partner's receiver does: check the timestamped HMAC and refuse stale messages."""
    fields = dict(part.split("=", 1) for part in headers["Earshot-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) <= tolerance_s


@pytest.mark.django_db
def test_long_media_becomes_a_job_ending_in_a_signed_webhook(
    api, partner_key, catalog, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True  # the receiver runs on loopback
    receiver = _Receiver([500, 200])  # the first attempt fails: it must be retried
    created = api.as_key(partner_key).post("/api/v1/webhooks", {"url": receiver.url}, format="json")
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("whsec_") and "secret" not in api.get("/api/v1/webhooks").json()["results"][0]
    recording = np.concatenate(
        [synth_song(72, 60)[RATE * 5 : RATE * 25], synth_song(7777, 10), synth_song(71, 60)[RATE * 20 : RATE * 40]]
    )
    path = media.encode(recording, tmp_path / "show.mp3", RATE)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, {"file": _file(path)}, format="multipart")
    assert response.status_code == 202 and response["Location"] == response.json()["url"]
    job = Recognition.objects.get(pk=response.json()["id"])
    assert job.source == "api" and job.status == "done"
    assert [s["track_id"] for s in job.segments] == [catalog[72].pk, catalog[71].pk]
    delivery = WebhookDelivery.objects.get(recognition=job)
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert webhook_deliver(delivery.pk) == "skipped"  # not due: the backoff has not passed
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.next_attempt_at - BACKOFF)
    assert webhook_deliver(delivery.pk) == "delivered"  # the retry (the worker runs it after the backoff)
    headers, body = receiver.requests[-1]
    assert len(receiver.requests) == 2
    assert _verify(secret, headers, body)
    assert not _verify("whsec_wrong", headers, body)
    sent = json.loads(body)
    assert sent["event"] == "recognition.finished" and sent["recognition"]["id"] == str(job.pk)
    assert [s["track_id"] for s in sent["recognition"]["segments"]] == [catalog[72].pk, catalog[71].pk]
    log = api.get(f"/api/v1/webhooks/{created.json()['id']}").json()["results"][0]
    assert log["status"] == "delivered" and log["attempts"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://10.0.0.5/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.com/x",
        "not a url",
    ],
)
def test_webhooks_to_private_hosts_or_other_schemes_are_refused(api, partner_key, url):
    response = api.as_key(partner_key).post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] in {"invalid_url", "invalid"}


@pytest.mark.django_db
def test_webhook_secrets_are_encrypted_at_rest(api, partner_key, settings):
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    secret = (
        api.as_key(partner_key)
        .post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/h"}, format="json")
        .json()["secret"]
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM recognition_webhook")
        assert secret not in repr(cursor.fetchall())


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_api")
    return {entry.name: hostile.build(entry, folder) for entry in hostile.CORPUS}


@pytest.mark.django_db
@pytest.mark.parametrize("entry", hostile.CORPUS, ids=lambda e: e.name)
def test_hostile_files_get_their_status_and_a_json_error(
    api, partner_key, hostile_files, entry, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_key(partner_key).post(URL, {"file": _file(hostile_files[entry.name])}, format="multipart")
    assert time.monotonic() - started < 15
    assert response.status_code == entry.sync_status, response.content
    if response.status_code >= 400:
        assert response.json()["error"]["code"] == entry.code
    elif entry.job_fails:  # long media: the job carries the error
        job = api.get(response.json()["url"]).json()
        assert job["status"] == "failed" and job["error"]["code"] == entry.code
    from recognition import store

    assert store.table_size()["rows"] == 0  # nothing ever written to the catalog


@pytest.mark.django_db
def test_two_files_in_one_request_are_a_400(api, partner_key, tmp_path):
    a = media.write_wav(tmp_path / "a.wav", synth_song(1, 2))
    response = api.as_key(partner_key).post(URL, {"file": [_file(a), _file(a)]}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_files"
