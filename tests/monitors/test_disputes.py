"""Detections beyond one monitor: who sees which, the detection pages and API, disputes and restores."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Role
from recognition.engine import Sighting
from recognition.monitors import selectors, services
from recognition.monitors.models import Detection, DetectionDispute, Monitor
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db

SECRET_URL = "https://radio.example/secret-mount-7f3a.mp3"


@pytest.fixture
def radio(monitor_user):
    """A stream monitor of the guard's (made directly: its URL is never fetched here)."""
    return Monitor.objects.create(owner=monitor_user, name="Harbour FM", source_url=SECRET_URL)


@pytest.fixture
def plays(radio, device_monitor, detect, rights_holder, other_rights_holder):
    """Plays of holder_a's and holder_b's tracks on the guard's two monitors, by name."""
    mine = TrackFactory(owner=rights_holder, title="Lighthouse Waltz")
    theirs = TrackFactory(owner=other_rights_holder, title="Other Label Song")
    bar, _ = device_monitor
    return {
        "a_radio": detect(radio, mine, minutes_ago=30),
        "a_bar": detect(bar, mine, minutes_ago=20),
        "b_radio": detect(radio, theirs, minutes_ago=10),
    }


def _as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_who_sees_which_detections(plays, monitor_user, rights_holder, other_rights_holder, staff, make_user):
    def ids(user):
        return {d.pk for d in selectors.detections_visible_to(user)}

    everything = {d.pk for d in plays.values()}
    assert ids(monitor_user) == everything
    assert ids(staff) == everything
    assert ids(rights_holder) == {plays["a_radio"].pk, plays["a_bar"].pk}
    assert ids(other_rights_holder) == {plays["b_radio"].pk}
    assert ids(make_user(Role.MONITOR)) == set()
    assert ids(make_user(Role.LISTENER)) == set()


def test_a_rights_holder_sees_their_tracks_and_never_the_monitors_url_token_or_owner(
    plays, rights_holder, monitor_user, device_monitor
):
    _, token = device_monitor
    client = _as(rights_holder)
    page = client.get("/detections/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-testid="detection"') == 2
    assert "Lighthouse Waltz" in html and "Other Label Song" not in html
    assert "Harbour FM" in html and "Corner bar" in html  # the monitors by name
    assert 'href="/detections/"' in html  # the nav link
    links = [f'href="/monitors/{plays[name].monitor_id}/' for name in ("a_radio", "a_bar")]
    for secret in (SECRET_URL, "secret-mount", token, monitor_user.username, *links):
        assert secret not in html, secret
    for detection in (plays["a_radio"], plays["a_bar"]):
        detail = client.get(f"/detections/{detection.pk}/").content.decode()
        body = client.get(f"/api/v1/detections/{detection.pk}").json()
        assert body["monitor_name"] in {"Harbour FM", "Corner bar"} and body["title"] == "Lighthouse Waltz"
        for secret in (SECRET_URL, "secret-mount", token, monitor_user.username, f"/monitors/{detection.monitor_id}"):
            assert secret not in detail and secret not in str(body), secret


def test_others_detections_are_404_on_every_page_and_endpoint(plays, other_rights_holder, make_user):
    detection = plays["a_radio"]
    for user in (other_rights_holder, make_user(Role.MONITOR), make_user(Role.RIGHTS_HOLDER)):
        client = _as(user)
        assert client.get(f"/detections/{detection.pk}/").status_code == 404
        assert client.post(f"/detections/{detection.pk}/dispute", {"reason": "x"}).status_code == 404
        assert client.post(f"/detections/{detection.pk}/restore").status_code == 404
        assert client.get(f"/api/v1/detections/{detection.pk}").status_code == 404
        response = client.post(f"/api/v1/detections/{detection.pk}/dispute", {"reason": "x"}, format="json")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert client.post(f"/api/v1/detections/{detection.pk}/restore").status_code == 404
    assert not DetectionDispute.objects.exists() and not Detection.objects.filter(disputed=True).exists()


def test_the_list_filters_by_track_monitor_and_days(plays, monitor_user, radio):
    Detection.objects.filter(pk=plays["a_radio"].pk).update(
        started_at=datetime(2026, 3, 1, 23, 59, tzinfo=UTC), ended_at=datetime(2026, 3, 2, 0, 2, tzinfo=UTC)
    )
    client = _as(monitor_user)
    track = plays["a_radio"].track_id

    def shown(query):
        page = client.get(f"/detections/?{query}")
        assert page.status_code == 200, page.content
        return [d.pk for d in page.context["page"].object_list]

    assert shown(f"track={track}") == [plays["a_bar"].pk, plays["a_radio"].pk]
    assert shown(f"monitor={radio.pk}") == [plays["b_radio"].pk, plays["a_radio"].pk]
    assert shown(f"track={track}&monitor={radio.pk}&from=2026-03-01&to=2026-03-01") == [plays["a_radio"].pk]
    assert shown(f"track={track}&from=2026-03-02&to=2026-03-31") == []
    assert shown("to=2026-02-28") == []
    bad = client.get("/detections/?from=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.content.decode()


def test_a_dispute_leaves_the_play_log_and_a_restore_brings_it_back(plays, rights_holder, monitor_user, radio):
    detection = plays["a_radio"]
    holder, guard = _as(rights_holder), _as(monitor_user)
    log_url = f"/api/v1/monitors/{radio.pk}/log"

    def logged():
        return [row["detection_id"] for row in guard.get(log_url).json()["results"]]

    def in_csv():
        text = "".join(chunk.decode() for chunk in guard.get(log_url, {"format": "csv"}).streaming_content)
        return str(detection.pk) in [row["detection_id"] for row in csv.DictReader(io.StringIO(text))]

    assert detection.pk in logged() and in_csv()
    response = holder.post(
        f"/api/v1/detections/{detection.pk}/dispute", {"reason": "A cover by another band"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["disputed"] is True
    assert detection.pk not in logged() and not in_csv()
    assert plays["b_radio"].pk in logged()  # only that one left
    listed = guard.get(f"/api/v1/monitors/{radio.pk}/detections").json()["results"]
    assert {d["id"]: d["disputed"] for d in listed} == {detection.pk: True, plays["b_radio"].pk: False}
    page = guard.get(f"/monitors/{radio.pk}/").content.decode()
    assert page.count('data-testid="detection-disputed"') == 1  # marked on the monitor's timeline...
    assert page.index(f'href="/detections/{detection.pk}/"') < page.index('data-testid="detection-disputed"')
    assert f'href="/detections/{plays["b_radio"].pk}/"' in page  # ...where each play links to its page

    again = holder.post(f"/api/v1/detections/{detection.pk}/dispute", {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_disputed"

    restored = guard.post(f"/api/v1/detections/{detection.pk}/restore")
    assert restored.status_code == 200 and restored.json()["disputed"] is False
    assert detection.pk in logged() and in_csv()
    once_more = guard.post(f"/api/v1/detections/{detection.pk}/restore")
    assert once_more.status_code == 409 and once_more.json()["error"]["code"] == "not_disputed"


def test_the_trail_keeps_who_when_and_why_and_hides_the_monitors_owner_from_the_holder(
    plays, rights_holder, monitor_user, staff
):
    detection = plays["a_bar"]
    before = datetime.now(UTC)
    services.detection_dispute(detection=detection, user=monitor_user, reason="Our DJ played the remix")
    services.detection_restore(detection=detection, user=rights_holder)
    services.detection_dispute(detection=detection, user=staff, reason="Checked the evidence: wrong song")
    rows = list(DetectionDispute.objects.filter(detection=detection).order_by("id"))
    assert [(r.action, r.user_id, r.reason) for r in rows] == [
        ("disputed", monitor_user.pk, "Our DJ played the remix"),
        ("restored", rights_holder.pk, ""),
        ("disputed", staff.pk, "Checked the evidence: wrong song"),
    ]
    assert all(before <= r.created_at <= datetime.now(UTC) for r in rows)
    detection.refresh_from_db()
    assert detection.disputed is True

    trail = _as(rights_holder).get(f"/api/v1/detections/{detection.pk}").json()["disputes"]
    assert [(e["action"], e["by"], e["user"]) for e in trail] == [
        ("disputed", "monitor_owner", None),
        ("restored", "rights_holder", rights_holder.username),
        ("disputed", "staff", staff.username),
    ]
    assert trail[0]["reason"] == "Our DJ played the remix" and trail[0]["created_at"] <= trail[2]["created_at"]
    for viewer in (monitor_user, staff):
        seen = _as(viewer).get(f"/api/v1/detections/{detection.pk}").json()["disputes"]
        assert seen[0]["user"] == monitor_user.username
    page = _as(rights_holder).get(f"/detections/{detection.pk}/").content.decode()
    assert "the monitor&#x27;s owner" in page and monitor_user.username not in page
    assert "Checked the evidence: wrong song" in page and 'data-testid="restore-form"' in page


def test_disputes_through_the_pages(plays, rights_holder):
    detection = plays["a_radio"]
    client = _as(rights_holder)
    page = client.get(f"/detections/{detection.pk}/")
    assert 'data-testid="dispute-form"' in page.content.decode() and 'data-testid="no-trail"' in page.content.decode()
    refused = client.post(f"/detections/{detection.pk}/dispute", {"reason": "   "})
    assert refused.status_code == 400 and "reason is required" in refused.content.decode()
    done = client.post(f"/detections/{detection.pk}/dispute", {"reason": "Not our recording"}, follow=True)
    assert done.redirect_chain == [(f"/detections/{detection.pk}/", 302)]
    html = done.content.decode()
    assert "left out of the reports" in html and "Not our recording" in html and 'data-testid="restore"' in html
    listed = client.get("/detections/").content.decode()
    assert 'class="detection-disputed"' in listed and 'data-testid="disputed"' in listed
    restored = client.post(f"/detections/{detection.pk}/restore", follow=True)
    assert restored.status_code == 200 and 'data-testid="dispute-form"' in restored.content.decode()
    assert list(DetectionDispute.objects.values_list("action", flat=True).order_by("id")) == ["disputed", "restored"]


def test_only_the_owner_the_holder_and_staff_may_dispute(plays, make_user, other_rights_holder):
    detection = plays["a_radio"]
    for user in (make_user(Role.LISTENER), make_user(Role.MONITOR), other_rights_holder):
        with pytest.raises(services.DisputeRefused) as refused:
            services.detection_dispute(detection=detection, user=user, reason="no")
        assert refused.value.code == "forbidden"
    for reason, code in (("", "invalid"), ("x" * 501, "invalid")):
        with pytest.raises(services.DisputeRefused) as refused:
            services.detection_dispute(detection=detection, user=detection.monitor.owner, reason=reason)
        assert refused.value.code == code
    assert not DetectionDispute.objects.exists()
    detection.refresh_from_db()
    assert detection.disputed is False


def test_the_worker_extending_a_disputed_open_play_keeps_it_disputed(device_monitor, detect, rights_holder):
    bar, _ = device_monitor
    track = TrackFactory(owner=rights_holder)
    playing = detect(bar, track, open=True)
    services.detection_dispute(detection=playing, user=rights_holder, reason="Talk radio, not the song")
    stale = Detection.objects.get(pk=playing.pk)
    stale.disputed = False  # what a worker holding the row from before the dispute has in memory
    clock = services.StreamClock(origin=stale.started_at)
    services.detection_extend(
        detection=stale, sighting=Sighting(track.pk, 0.0, 45.0, 12.0, 57.0, 0.9999, 1.0), clock=clock
    )
    services.detection_end(detection=stale)
    playing.refresh_from_db()
    assert playing.disputed is True and playing.open is False


@pytest.mark.django_db(transaction=True)
def test_two_people_disputing_at_once_write_one_dispute(radio, detect, rights_holder, monitor_user):
    detection = detect(radio, TrackFactory(owner=rights_holder))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def dispute(user):
        try:
            barrier.wait(timeout=5)
            services.detection_dispute(detection=Detection.objects.get(pk=detection.pk), user=user, reason="wrong")
            outcomes.append("ok")
        except services.DisputeRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispute, args=(user,)) for user in (rights_holder, monitor_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(outcomes) == ["already_disputed", "ok"]
    assert DetectionDispute.objects.filter(detection=detection).count() == 1
