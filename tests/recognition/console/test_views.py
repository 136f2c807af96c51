"""The partner console: keys with their usage, webhooks with their delivery log and a test event,
a recognition tried through the API's own service. Real PostgreSQL, Redis, ffmpeg and receivers."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import ApiKey, Role
from accounts.services import api_key_create
from catalog.demo import synth_song
from recognition.models import Recognition, Webhook, WebhookDelivery
from recognition.services import track_ingest
from tests import media
from tests.receivers import signatures_valid_for

pytestmark = pytest.mark.django_db
RATE = media.FILE_RATE


@pytest.fixture(autouse=True)
def _generous_throttle(settings):
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}


@pytest.fixture
def partner(make_user):
    return make_user(Role.PARTNER, username="acme")


@pytest.fixture
def signed_in(client, partner):
    client.force_login(partner)
    return client


def _row(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</tr>", 1)[0]


def _field(row: str, name: str) -> str:
    return re.sub(r"<[^>]+>", "", row.split(f'data-field="{name}"', 1)[1].split(">", 1)[1].split("</td>", 1)[0]).strip()


def test_the_console_shows_each_keys_use_and_links_the_api_docs(api, signed_in, partner):
    key_obj, key = api_key_create(user=partner, name="web shop", scopes=["recognize"])
    for _ in range(12):
        api.as_key(key).get("/api/v1/recognitions")
    api.as_key(key).get("/api/v1/webhooks")  # not its scope: an error
    html = signed_in.get("/console/").content.decode()
    row = _row(html, f'data-key="{key_obj.prefix}"')
    assert _field(row, "requests") == "13" and _field(row, "errors") == "1" and _field(row, "scopes") == "recognize"
    assert _field(row, "last-used") != "never"
    assert "13 requests, 1 errors</title>" in row  # today's bar
    assert 'href="/api/v1/docs"' in html and 'href="/console/try"' in html
    assert 'href="/console/"' in html.split("</nav>")[0]  # in the site's navigation
    assert 'id="webhooks"' in html  # partners have webhooks


def test_a_key_made_on_the_console_is_shown_once_with_its_scopes(signed_in, partner, api):
    response = signed_in.post("/console/keys/new", {"name": "ingest bot", "scopes": ["catalog", "webhooks"]})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = response.content.decode().split('data-testid="new-key">')[1].split("<")[0].strip()
    stored = ApiKey.objects.get_from_key(key)
    assert stored.scopes == ["catalog", "webhooks"] and stored.user == partner
    assert api.as_key(key).get("/api/v1/webhooks").status_code == 200
    assert api.as_key(key).get("/api/v1/recognitions").status_code == 403
    assert key not in signed_in.get("/console/").content.decode()
    refused = signed_in.post("/console/keys/new", {"name": "no scope"})
    assert refused.status_code == 400 and "Tick at least one scope." in refused.content.decode()
    signed_in.post(f"/console/keys/{stored.prefix}/revoke")
    assert api.as_key(key).get("/api/v1/webhooks").status_code == 401


def test_another_users_key_cannot_be_revoked(signed_in, make_user):
    theirs = api_key_create(user=make_user(Role.PARTNER), name="theirs")[0]
    assert signed_in.post(f"/console/keys/{theirs.prefix}/revoke").status_code == 404
    assert not ApiKey.objects.get(pk=theirs.pk).revoked


def _add_webhook(client, url: str) -> tuple[Webhook, str]:
    response = client.post("/console/webhooks/new", {"url": url})
    assert response["Cache-Control"] == "no-store"
    secret = response.content.decode().split('data-testid="webhook-secret">')[1].split("<")[0].strip()
    return Webhook.objects.get(url=url), secret


def test_a_test_event_reaches_the_receiver_signed_and_shows_in_the_log(
    signed_in, receiver, django_capture_on_commit_callbacks
):
    hook = receiver()
    webhook, secret = _add_webhook(signed_in, hook.url)
    page = f"/console/webhooks/{webhook.pk}/"
    assert "Nothing delivered yet" in signed_in.get(page).content.decode()
    with django_capture_on_commit_callbacks(execute=True):  # the tests' tasks run at once, on commit
        response = signed_in.post(f"/console/webhooks/{webhook.pk}/test", follow=True)
    assert "A test event (`ping`) is on its way" in response.content.decode()
    (headers, body), *_ = hook.requests
    assert signatures_valid_for(secret, headers, body)
    assert json.loads(body)["event"] == "ping" and json.loads(body)["ping"]["webhook_id"] == webhook.pk
    html = signed_in.get(page).content.decode()
    delivery = WebhookDelivery.objects.get(webhook=webhook)
    row = _row(html, f'data-delivery="{delivery.pk}"')
    assert _field(row, "event") == "ping" and _field(row, "status") == "delivered"
    assert _field(row, "attempts") == "1" and _field(row, "response") == "200"
    assert 'http-equiv="refresh"' not in html


def test_a_failing_receiver_shows_the_status_and_the_retry(signed_in, receiver, django_capture_on_commit_callbacks):
    webhook, _ = _add_webhook(signed_in, receiver(statuses=[500]).url)
    with django_capture_on_commit_callbacks(execute=True):
        signed_in.post(f"/console/webhooks/{webhook.pk}/test")
    html = signed_in.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    row = _row(html, 'data-delivery="')
    assert _field(row, "status") == "pending" and _field(row, "response") == "500" and "HTTP 500" in row
    assert 'http-equiv="refresh"' in html  # the page follows the retry


def test_a_switched_off_webhook_is_switched_on_before_a_test(signed_in, receiver, partner):
    webhook, _ = _add_webhook(signed_in, receiver().url)
    Webhook.objects.filter(pk=webhook.pk).update(active=False, disabled_reason="20 attempts in a row failed")
    html = signed_in.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    assert "20 attempts in a row failed" in html and "Switch it on" in html and 'data-testid="send-test"' not in html
    refused = signed_in.post(f"/console/webhooks/{webhook.pk}/test", follow=True).content.decode()
    assert "switched off; switch it on" in refused and not WebhookDelivery.objects.exists()
    signed_in.post(f"/console/webhooks/{webhook.pk}/switch-on")
    assert Webhook.objects.get(pk=webhook.pk).active


def test_webhook_urls_are_checked_and_others_webhooks_are_404(signed_in, settings, make_user):
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = False
    refused = signed_in.post("/console/webhooks/new", {"url": "http://127.0.0.1:9/h"}, follow=True)
    assert "must point to a public host" in refused.content.decode() and not Webhook.objects.exists()
    theirs = Webhook.objects.create(user=make_user(Role.PARTNER), url="https://example.com/x", secret_encrypted="x")
    assert signed_in.get(f"/console/webhooks/{theirs.pk}/").status_code == 404
    assert signed_in.post(f"/console/webhooks/{theirs.pk}/delete").status_code == 404
    assert Webhook.objects.filter(pk=theirs.pk).exists()


@pytest.fixture
def catalog_song(rights_holder, tmp_path):
    path = media.write_wav(tmp_path / "song.wav", synth_song(75, 60))
    return track_ingest(path=path, owner=rights_holder, title="Harbour Lights", store_audio=False).track


def _try(client, path: Path) -> tuple[str, dict]:
    response = client.post("/console/try", {"file": SimpleUploadedFile(path.name, path.read_bytes())})
    html = response.content.decode()
    assert response.status_code == 200
    answer = html.split('data-testid="try-json">')[1].split("</pre>")[0]
    return html, json.loads(answer.replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&"))


def test_try_a_recognition_shows_the_apis_json(signed_in, catalog_song, tmp_path, partner):
    clip = media.encode(synth_song(75, 60)[RATE * 30 : RATE * 37], tmp_path / "clip.ogg", RATE)
    html, body = _try(signed_in, clip)
    assert "HTTP 200" in html
    assert body["match"]["track_id"] == catalog_song.pk and body["match"]["title"] == "Harbour Lights"
    assert body["url"] == f"/api/v1/recognitions/{body['id']}"
    job = Recognition.objects.get(pk=body["id"])
    assert job.user == partner and job.source == "api"
    summary = html.split('data-testid="try-summary">')[1].split("</p>")[0]
    assert "Harbour Lights" in summary and "at 0:30 in the track" in summary and "100 %" in summary


def test_try_answers_no_match_and_errors_as_the_api_does(signed_in, catalog_song, tmp_path):
    unknown = media.write_wav(tmp_path / "unknown.wav", synth_song(7575, 6))
    html, body = _try(signed_in, unknown)
    assert body["match"] is None and "No match" in html
    text = tmp_path / "notes.mp3"
    text.write_bytes(b"not music at all\n" * 50)
    html, body = _try(signed_in, text)
    assert "HTTP 415" in html and body["error"]["code"] == "not_media"
    missing = signed_in.post("/console/try", {}).content.decode()
    assert "HTTP 400" in missing and "missing_file" in missing


def test_a_listener_is_told_the_api_is_not_theirs(client, make_user):
    client.force_login(make_user(Role.LISTENER, username="newcomer"))
    response = client.get("/console/")
    text = response.content.decode()
    assert response.status_code == 403 and "The API is for partner accounts" in text
    assert "listener account" in text and "partner</strong> role" in text
    assert client.post("/console/keys/new", {"name": "x", "scopes": ["recognize"]}).status_code == 403
    assert not ApiKey.objects.exists()
    profile = client.get("/accounts/profile/").content.decode()
    assert "API keys and the partner API are for partner accounts" in profile and "/console/" not in profile
