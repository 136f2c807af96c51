"""Monitor pages: the list and its form, a monitor's timeline and actions, CSV, evidence, the device page."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import Role
from recognition.engine import audio
from recognition.monitors import services
from recognition.monitors.models import Detection, Monitor
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def guard(client, monitor_user):
    client.force_login(monitor_user)
    return client


def test_the_list_shows_each_monitor_with_its_state(guard, device_monitor, monitor_user, detect):
    monitor, _ = device_monitor
    failed = Monitor.objects.create(
        owner=monitor_user, name="Dead radio", source_url="https://radio.example/a.mp3", state="failed",
        state_reason="The stream answered 404 Not Found.",
    )  # fmt: skip
    detect(monitor, TrackFactory())
    page = guard.get("/monitors/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Corner bar" in html and "Venue device" in html and "Waiting" not in html
    assert "Dead radio" in html and "The stream answered 404 Not Found." in html and failed.get_state_display() in html
    rows = [r for r in page.context["monitors"] if r.pk == monitor.pk]
    assert rows[0].detections_today == 1
    assert 'name="csrfmiddlewaretoken"' in html


def test_adding_a_device_shows_its_token_once(guard, monitor_user):
    page = guard.post("/monitors/", {"kind": "device", "name": "Gym"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    monitor = Monitor.objects.get(owner=monitor_user)
    token = page.context["token"]
    assert services.device_token_hash(token) == monitor.device_token_hash
    assert f"/monitors/{monitor.pk}/device#token={token}" in page.content.decode()
    assert token not in guard.get(f"/monitors/{monitor.pk}/").content.decode()


def test_a_stream_without_a_url_or_private_is_refused_with_the_reason(guard, settings):
    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = False
    page = guard.post("/monitors/", {"kind": "stream", "name": "Radio", "source_url": ""})
    assert page.status_code == 400 and "needs the stream" in page.content.decode()
    page = guard.post("/monitors/", {"kind": "stream", "name": "Radio", "source_url": "http://127.0.0.1:9/live.mp3"})
    assert page.status_code == 400 and page.context["error"]
    assert 'value="http://127.0.0.1:9/live.mp3"' in page.content.decode()  # the form keeps what was typed
    assert not Monitor.objects.exists()


def test_listeners_are_told_monitors_need_the_role(client, make_user):
    client.force_login(make_user(Role.LISTENER))
    page = client.get("/monitors/")
    assert page.status_code == 403 and "monitor role" in page.content.decode()
    assert client.post("/monitors/", {"kind": "device", "name": "x"}).status_code == 403
    assert not Monitor.objects.exists()


def test_the_timeline_and_its_status_endpoint(guard, device_monitor, detect):
    monitor, _ = device_monitor
    played = detect(monitor, TrackFactory(title="Harbour Lights"), minutes_ago=5)
    page = guard.get(f"/monitors/{monitor.pk}/")
    assert page.status_code == 200
    assert "Harbour Lights" in page.content.decode() and f"/monitors/{monitor.pk}/status" in page.content.decode()
    status = guard.get(f"/monitors/{monitor.pk}/status").json()
    assert status["monitor"]["id"] == monitor.pk and [d["id"] for d in status["detections"]] == [played.pk]
    later = guard.get(f"/monitors/{monitor.pk}/status", {"since": status["detections"][0]["updated_at"]}).json()
    assert [d["id"] for d in later["detections"]] == [played.pk]  # since is inclusive
    fresh = detect(monitor, TrackFactory(title="Second"), open=True)
    newer = guard.get(f"/monitors/{monitor.pk}/status", {"since": fresh.updated_at.isoformat()}).json()
    assert [d["id"] for d in newer["detections"]] == [fresh.pk]


def test_actions_need_csrf_and_work_with_it(monitor_user, device_monitor):
    monitor, old_token = device_monitor
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(monitor_user)
    assert browser.post(f"/monitors/{monitor.pk}/pause", {"paused": "1"}).status_code == 403
    assert Monitor.objects.get(pk=monitor.pk).paused is False
    page = browser.get(f"/monitors/{monitor.pk}/")
    csrf = page.context["csrf_token"]
    response = browser.post(f"/monitors/{monitor.pk}/pause", {"paused": "1", "csrfmiddlewaretoken": str(csrf)})
    assert response.status_code == 302 and Monitor.objects.get(pk=monitor.pk).state == "paused"
    browser.post(f"/monitors/{monitor.pk}/pause", {"paused": "0", "csrfmiddlewaretoken": str(csrf)})
    assert Monitor.objects.get(pk=monitor.pk).paused is False
    rotated = browser.post(f"/monitors/{monitor.pk}/device-token", {"csrfmiddlewaretoken": str(csrf)})
    new_token = rotated.context["token"]
    assert new_token != old_token
    assert Monitor.objects.get(pk=monitor.pk).device_token_hash == services.device_token_hash(new_token)
    deleted = browser.post(f"/monitors/{monitor.pk}/delete", {"csrfmiddlewaretoken": str(csrf)})
    assert deleted.status_code == 302 and deleted["Location"] == "/monitors/"
    assert not Monitor.objects.filter(pk=monitor.pk).exists()


def test_another_users_monitor_is_404_everywhere(client, device_monitor, make_user):
    monitor, _ = device_monitor
    client.force_login(make_user(Role.MONITOR))
    for method, path in [
        ("get", f"/monitors/{monitor.pk}/"),
        ("get", f"/monitors/{monitor.pk}/status"),
        ("get", f"/monitors/{monitor.pk}/detections.csv"),
        ("post", f"/monitors/{monitor.pk}/pause"),
        ("post", f"/monitors/{monitor.pk}/device-token"),
        ("post", f"/monitors/{monitor.pk}/delete"),
    ]:
        assert getattr(client, method)(path, {"paused": "1"}).status_code == 404, path
    assert Monitor.objects.get(pk=monitor.pk).paused is False


def test_csv_streams_every_row_and_defuses_formulas(guard, device_monitor, detect):
    monitor, _ = device_monitor
    for n in range(3):
        detect(monitor, TrackFactory(title=f"Song {n}"), minutes_ago=10 - n)
    detect(monitor, TrackFactory(title='=HYPERLINK("http://evil")'), minutes_ago=1)
    response = guard.get(f"/monitors/{monitor.pk}/detections.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert f"monitor-{monitor.pk}-detections.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["title"] for r in rows] == ["Song 0", "Song 1", "Song 2", '\'=HYPERLINK("http://evil")']
    assert rows[0]["open"] == "0" and float(rows[0]["duration_s"]) == pytest.approx(30, abs=0.1)
    assert rows[0]["started_at"] < rows[1]["started_at"]


def test_a_play_measured_off_speed_says_so_everywhere_and_one_near_speed_nowhere(guard, device_monitor, detect):
    """The monitor measures every play's speed: 0.97 is "played 3 % slow" on the timeline, the
    detection's page, the detections list (where a report's monitor row leads), the status
    endpoint, the API and the CSV; 1.004 is no change in any of them."""
    monitor, _ = device_monitor
    slow = detect(monitor, TrackFactory(title="Slow"), minutes_ago=10)
    near = detect(monitor, TrackFactory(title="Near"), minutes_ago=5)
    Detection.objects.filter(pk=slow.pk).update(speed=0.97)
    Detection.objects.filter(pk=near.pk).update(speed=1.004)
    timeline = guard.get(f"/monitors/{monitor.pk}/").content.decode()
    assert timeline.count("played 3 % slow") == 1 and "played 0 %" not in timeline
    assert 'data-testid="detection-change">played 3 % slow<' in guard.get(f"/detections/{slow.pk}/").content.decode()
    assert 'data-testid="detection-change"' not in guard.get(f"/detections/{near.pk}/").content.decode()
    listed = guard.get("/detections/", {"monitor": monitor.pk}).content.decode()
    assert listed.count('data-testid="detection-change">played 3 % slow<') == 1 and "played 0 %" not in listed
    status = guard.get(f"/monitors/{monitor.pk}/status").json()
    assert {d["title"]: d["speed"] for d in status["detections"]} == {"Slow": 0.97, "Near": None}
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(guard.get(f"/monitors/{monitor.pk}/detections.csv").streaming_content).decode())
        )
    )
    assert {r["title"]: r["speed"] for r in rows} == {"Slow": "0.97", "Near": ""}


@pytest.fixture
def evidence(device_monitor, detect, rights_holder):
    """A detection of holder_a's track, with ~2 s of Opus evidence."""
    monitor, _ = device_monitor
    detection = detect(monitor, TrackFactory(owner=rights_holder))
    tone = (np.sin(np.arange(16000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    detection.evidence.save("e.ogg", ContentFile(audio.encode_opus(tone, sample_rate_hz=8000)))
    return detection


def test_evidence_for_the_owner_the_rights_holder_and_staff(client, evidence, monitor_user, rights_holder, staff):
    url = f"/api/v1/detections/{evidence.pk}/evidence"
    for user in (monitor_user, rights_holder, staff):
        client.force_login(user)
        response = client.get(url, HTTP_ACCEPT="audio/webm,audio/ogg,audio/*;q=0.9")
        assert response.status_code == 200, user.username
        assert response["Content-Type"] == "audio/ogg"
        assert b"".join(response.streaming_content)[:4] == b"OggS"
    status = client.get(f"/monitors/{evidence.monitor_id}/status").json()
    assert status["detections"][0]["evidence_url"] == url
    assert "/media/" not in url


def test_evidence_is_404_for_anyone_else(client, api, evidence, other_rights_holder, make_user):
    url = f"/api/v1/detections/{evidence.pk}/evidence"
    assert client.get(url).status_code == 401
    for user in (other_rights_holder, make_user(Role.MONITOR)):
        client.force_login(user)
        assert client.get(url).status_code == 404, user.username
    client.force_login(make_user(Role.LISTENER))
    assert client.get(url).status_code == 403  # listeners do not use the API at all
    Detection.objects.filter(pk=evidence.pk).update(evidence="")
    client.force_login(evidence.monitor.owner)
    assert client.get(url).status_code == 404


def test_the_device_page_needs_no_sign_in_and_names_nothing(client, device_monitor):
    monitor, _ = device_monitor
    page = client.get(f"/monitors/{monitor.pk}/device")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-socket-path="/ws/monitors/{monitor.pk}/device"' in html and "js/device.js" in html
    assert monitor.name not in html


def test_adding_a_stream_probes_it_and_opens_its_page(guard, settings, monitor_user):
    from bench.streams import HostileServer, Item, Station, StreamServer
    from catalog.demo import synth_song

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    with HostileServer() as hostile:
        page = guard.post("/monitors/", {"kind": "stream", "name": "Fake", "source_url": hostile.url("/html")})
    assert page.status_code == 400 and "monitor-error" in page.content.decode() and page.context["error"]
    with StreamServer(Station([Item("song", synth_song(11, 20, 22050), 22050)], loop=True)) as station:
        response = guard.post(
            "/monitors/", {"kind": "stream", "name": "Radio One", "source_url": station.station_url()}
        )
    monitor = Monitor.objects.get(owner=monitor_user)
    assert response.status_code == 302 and response["Location"] == f"/monitors/{monitor.pk}/"
    assert monitor.name == "Radio One" and monitor.kind == "stream"
