"""The monitors API: create, list, read, pause, rename, delete, rotate tokens, read the log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from accounts.services import api_key_create
from recognition.monitors import services
from recognition.monitors.models import Detection, Monitor
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/monitors"


@pytest.fixture
def guard_api(api, monitor_user):
    return api.as_key(api_key_create(user=monitor_user, name="tests")[1])


def test_a_device_monitor_gets_its_token_once(guard_api, monitor_user):
    response = guard_api.post(URL, {"name": "Corner bar", "kind": "device"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    token = body["device_token"]
    assert token.startswith("dev_") and response["Location"] == f"{URL}/{body['id']}"
    monitor = Monitor.objects.get(pk=body["id"])
    assert monitor.owner == monitor_user and monitor.kind == "device" and monitor.source_url == ""
    assert monitor.device_token_hash == services.device_token_hash(token) and token not in monitor.device_token_hash
    assert body["device_socket_path"] == f"/ws/monitors/{monitor.pk}/device"
    again = guard_api.get(f"{URL}/{monitor.pk}").json()
    assert "device_token" not in again and again["state"] == "starting" and again["detections_today"] == 0
    assert [m["id"] for m in guard_api.get(URL).json()["results"]] == [monitor.pk]


def test_client_cannot_set_owner_state_or_token(guard_api, monitor_user, make_user):
    other = make_user(Role.MONITOR)
    response = guard_api.post(
        URL,
        {"name": "x", "kind": "device", "owner": other.pk, "state": "running", "device_token_hash": "0" * 64},
        format="json",
    )
    assert response.status_code == 201
    monitor = Monitor.objects.get(pk=response.json()["id"])
    assert monitor.owner == monitor_user and monitor.state == "starting" and monitor.device_token_hash != "0" * 64


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "source_url"),  # a stream needs its URL
        ({"name": "x", "kind": "device", "source_url": "https://radio.example/a.mp3"}, "source_url"),
        ({"name": "x", "kind": "radio"}, "kind"),
        ({"name": "x", "source_url": "ftp://radio.example/a.mp3"}, "source_url"),
        ({"kind": "device"}, "name"),
    ],
)
def test_invalid_monitors_are_refused_with_the_field(guard_api, body, field):
    response = guard_api.post(URL, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["details"]
    assert not Monitor.objects.exists()


def test_a_private_stream_address_is_refused_with_its_reason(guard_api, settings):
    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = False
    response = guard_api.post(URL, {"name": "x", "source_url": "http://127.0.0.1:8000/stream.mp3"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "private_address" and error["message"]
    assert not Monitor.objects.exists()


def test_the_per_user_quota_holds(guard_api, settings):
    settings.EARSHOT_MONITORS_PER_USER = 2
    for n in range(2):
        assert guard_api.post(URL, {"name": f"m{n}", "kind": "device"}, format="json").status_code == 201
    response = guard_api.post(URL, {"name": "one too many", "kind": "device"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "quota"
    assert Monitor.objects.count() == 2


@pytest.mark.parametrize("role", [Role.CREATOR, Role.PARTNER])  # listeners hold no keys at all
def test_accounts_without_the_monitor_role_get_a_clear_403(api, make_user, role):
    client = api.as_key(api_key_create(user=make_user(role), name="k")[1])
    response = client.post(URL, {"name": "x", "kind": "device"}, format="json")
    assert response.status_code == 403
    assert "monitor role" in response.json()["error"]["message"]
    assert client.get(URL).status_code == 403


def test_anonymous_gets_401(api):
    assert api.get(URL).status_code == 401


@pytest.mark.parametrize("role", [Role.RIGHTS_HOLDER, Role.STAFF])
def test_rights_holders_and_staff_may_monitor(api, make_user, role):
    client = api.as_key(api_key_create(user=make_user(role), name="k")[1])
    assert client.post(URL, {"name": "x", "kind": "device"}, format="json").status_code == 201


def test_another_users_monitor_is_404_and_staff_see_all(api, device_monitor, make_user, staff):
    monitor, _ = device_monitor
    stranger = api.as_key(api_key_create(user=make_user(Role.MONITOR), name="k")[1])
    for method, path in [
        ("get", f"{URL}/{monitor.pk}"),
        ("patch", f"{URL}/{monitor.pk}"),
        ("delete", f"{URL}/{monitor.pk}"),
        ("get", f"{URL}/{monitor.pk}/detections"),
        ("post", f"{URL}/{monitor.pk}/device-token"),
        ("get", f"{URL}/{monitor.pk}/log"),
    ]:
        response = getattr(stranger, method)(path, {"paused": True}, format="json")
        assert response.status_code == 404, path
        # The same answer as for a monitor that does not exist, with the documented code.
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}, path
    assert stranger.get(URL).json()["results"] == []
    assert Monitor.objects.get(pk=monitor.pk).paused is False
    boss = api.as_key(api_key_create(user=staff, name="k")[1])
    assert [m["id"] for m in boss.get(URL).json()["results"]] == [monitor.pk]
    assert boss.get(f"{URL}/{monitor.pk}").status_code == 200


def test_pause_resume_rename_and_delete(guard_api, device_monitor):
    monitor, _ = device_monitor
    paused = guard_api.patch(f"{URL}/{monitor.pk}", {"paused": True}, format="json").json()
    assert paused["paused"] is True and paused["state"] == "paused"
    resumed = guard_api.patch(f"{URL}/{monitor.pk}", {"paused": False, "name": " Back bar "}, format="json").json()
    assert resumed["paused"] is False and resumed["state"] == "starting" and resumed["name"] == "Back bar"
    assert guard_api.patch(f"{URL}/{monitor.pk}", {"paused": "maybe"}, format="json").status_code == 400
    assert guard_api.delete(f"{URL}/{monitor.pk}").status_code == 204
    assert not Monitor.objects.filter(pk=monitor.pk).exists()
    assert guard_api.get(f"{URL}/{monitor.pk}").status_code == 404


def test_rotating_the_token_replaces_it(guard_api, device_monitor, monitor_user):
    monitor, old = device_monitor
    response = guard_api.post(f"{URL}/{monitor.pk}/device-token")
    assert response.status_code == 200
    new = response.json()["device_token"]
    assert new != old
    assert Monitor.objects.get(pk=monitor.pk).device_token_hash == services.device_token_hash(new)
    stream = Monitor.objects.create(owner=monitor_user, name="radio", source_url="https://radio.example/a.mp3")
    refused = guard_api.post(f"{URL}/{stream.pk}/device-token")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "not_a_device"


def test_detections_newest_first_with_every_field(guard_api, device_monitor, detect):
    monitor, _ = device_monitor
    older = detect(monitor, TrackFactory(title="Old Song"), minutes_ago=30)
    newer = detect(monitor, TrackFactory(title="New Song"), minutes_ago=1, open=True)
    body = guard_api.get(f"{URL}/{monitor.pk}/detections").json()
    assert body["count"] == 2
    first, second = body["results"]
    assert (first["id"], second["id"]) == (newer.pk, older.pk)
    expected = {
        "id", "monitor_id", "track_id", "title", "artist", "started_at", "ended_at", "offset_start_s",
        "offset_end_s", "confidence", "speed", "open", "retroactive", "updated_at", "evidence_url",
    }  # fmt: skip
    assert set(first) == expected | {"disputed"}
    assert first["disputed"] is False
    assert first["title"] == "New Song" and first["open"] is True and second["open"] is False
    assert first["retroactive"] is False
    assert first["track_id"] == newer.track_id and first["offset_start_s"] == 12.0 and first["evidence_url"] is None
    # "today" starts at local midnight: in the first half hour of a day the older one is yesterday's.
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = sum(d.started_at >= midnight for d in (older, newer))
    assert today >= 1 and guard_api.get(f"{URL}/{monitor.pk}").json()["detections_today"] == today


def test_detections_since_a_time(guard_api, device_monitor, detect):
    monitor, _ = device_monitor
    old = detect(monitor, TrackFactory(), minutes_ago=60)
    Detection.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(minutes=59))
    recent = detect(monitor, TrackFactory(), minutes_ago=2)
    cut = (timezone.now() - timedelta(minutes=10)).isoformat()
    ids = [d["id"] for d in guard_api.get(f"{URL}/{monitor.pk}/detections", {"since": cut}).json()["results"]]
    assert ids == [recent.pk]
    # A play that started long ago but changed since (it ended now) is in the answer too.
    Detection.objects.filter(pk=old.pk).update(updated_at=timezone.now())
    ids = [d["id"] for d in guard_api.get(f"{URL}/{monitor.pk}/detections", {"since": cut}).json()["results"]]
    assert ids == [recent.pk, old.pk]
    # "+00:00" sent unescaped arrives as " 00:00": still understood.
    raw = guard_api.get(f"{URL}/{monitor.pk}/detections?since={cut}")
    assert raw.status_code == 200 and len(raw.json()["results"]) == 2
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00"):
        response = guard_api.get(f"{URL}/{monitor.pk}/detections", {"since": bad})
        assert response.status_code == 400, bad


def test_detections_are_paginated(guard_api, device_monitor, monitor_user):
    monitor, _ = device_monitor
    track = TrackFactory()
    now = timezone.now()
    Detection.objects.bulk_create(
        Detection(
            monitor=monitor, track=track, title=track.title, started_at=now - timedelta(minutes=n),
            ended_at=now - timedelta(minutes=n) + timedelta(seconds=30), offset_start_s=0, offset_end_s=30,
            confidence=0.99, open=False,
        )
        for n in range(55)
    )  # fmt: skip
    first = guard_api.get(f"{URL}/{monitor.pk}/detections").json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    second = guard_api.get(f"{URL}/{monitor.pk}/detections", {"page": 2}).json()
    assert len(second["results"]) == 5 and second["next"] is None
    starts = [d["started_at"] for d in first["results"] + second["results"]]
    assert starts == sorted(starts, reverse=True)


def test_the_monitor_role_may_register_webhooks(guard_api):
    assert guard_api.get("/api/v1/webhooks").status_code == 200


@pytest.fixture
def station():
    from bench.streams import Item, Station, StreamServer
    from catalog.demo import synth_song

    with StreamServer(Station([Item("song", synth_song(11, 20, 22050), 22050)], loop=True)) as server:
        yield server


def test_a_live_stream_is_probed_and_created(guard_api, station, settings, monitor_user):
    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    response = guard_api.post(URL, {"name": "Radio One", "source_url": station.station_url()}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "stream" and body["source_url"] == station.station_url() and "device_token" not in body
    assert Monitor.objects.get(pk=body["id"]).owner == monitor_user


@pytest.mark.parametrize(("path", "code"), [("/html", "not_audio"), ("/404", "not_found"), ("/loop", "redirect_loop")])
def test_bad_stream_sources_are_refused_at_creation_with_their_reason(guard_api, settings, path, code):
    from bench.streams import HostileServer

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    with HostileServer() as hostile:
        response = guard_api.post(URL, {"name": "bad", "source_url": hostile.url(path)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not Monitor.objects.exists()
