"""Detections written by the worker's services: one row per play, one webhook per event."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from django.core.files.base import ContentFile

from accounts.models import Role
from recognition.engine import Sighting
from recognition.models import WebhookDelivery
from recognition.monitors import services
from recognition.monitors.models import Detection, Monitor
from recognition.services.webhooks import webhook_create, webhook_deliver
from tests.api.test_recognitions_api import _Receiver, _verify
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db(transaction=True)
CLOCK = services.StreamClock(origin=datetime(2026, 12, 6, 20, 0, tzinfo=UTC))


def _sighting(track_id: int, start_s: float, end_s: float) -> Sighting:
    return Sighting(track_id, start_s, end_s, 12.0, 12.0 + end_s - start_s, 0.99, None)


def test_a_play_is_one_row_and_one_signed_webhook_per_event(make_user, settings):
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    owner = make_user(Role.MONITOR)
    receiver = _Receiver([])
    _, secret = webhook_create(user=owner, url=receiver.url)
    track = TrackFactory()
    monitor = Monitor.objects.create(owner=owner, name="Radio", source_url="http://radio.example/live")

    opened = services.detection_start(monitor=monitor, sighting=_sighting(track.pk, 30.0, 33.0), clock=CLOCK)
    # A second start of the same open play (a worker that took over and did not resume it).
    again = services.detection_start(monitor=monitor, sighting=_sighting(track.pk, 30.0, 40.0), clock=CLOCK)
    assert again.pk == opened.pk
    services.detection_end(detection=again, sighting=_sighting(track.pk, 30.0, 95.0), clock=CLOCK)
    services.detection_end(detection=again)  # twice: still one "ended"

    detection = Detection.objects.get()
    assert not detection.open and detection.title == track.title
    assert detection.started_at == datetime(2026, 12, 6, 20, 0, 30, tzinfo=UTC)
    assert detection.ended_at == datetime(2026, 12, 6, 20, 1, 35, tzinfo=UTC)
    assert detection.offset_end_s == pytest.approx(77.0)
    deliveries = list(WebhookDelivery.objects.order_by("created_at"))
    assert [d.event for d in deliveries] == ["detection.started", "detection.ended"]
    for delivery in deliveries:
        if delivery.status == "pending":
            assert webhook_deliver(delivery.pk) == "delivered"
    bodies = [json.loads(body) for _, body in receiver.requests]
    assert sorted(b["event"] for b in bodies) == ["detection.ended", "detection.started"]
    assert all(b["detection"]["track_id"] == track.pk for b in bodies)
    assert all(_verify(secret, headers, body) for headers, body in receiver.requests)


def test_a_deleted_track_leaves_its_plays_in_the_log(make_user):
    owner = make_user(Role.MONITOR)
    track = TrackFactory()
    monitor = Monitor.objects.create(owner=owner, name="Radio", source_url="http://radio.example/live")
    services.detection_start(monitor=monitor, sighting=_sighting(track.pk, 1.0, 5.0), clock=CLOCK)
    title = track.title
    track.delete()
    detection = Detection.objects.get()
    assert detection.track_id is None and detection.title == title


def test_pausing_closes_the_plays_in_progress(make_user):
    owner = make_user(Role.MONITOR)
    monitor = Monitor.objects.create(owner=owner, name="Radio", source_url="http://radio.example/live")
    services.detection_start(monitor=monitor, sighting=_sighting(TrackFactory().pk, 1.0, 5.0), clock=CLOCK)
    services.monitor_update(monitor=monitor, paused=True)
    assert not Detection.objects.filter(open=True).exists()
    assert Monitor.objects.get(pk=monitor.pk).state == Monitor.State.PAUSED


def test_evidence_is_stored_under_a_random_key(make_user):
    owner = make_user(Role.MONITOR)
    monitor = Monitor.objects.create(owner=owner, name="Radio", source_url="http://radio.example/live")
    detection = services.detection_start(monitor=monitor, sighting=_sighting(TrackFactory().pk, 1.0, 5.0), clock=CLOCK)
    detection.evidence.save(f"Radio Nova {monitor.pk}-{detection.pk}.ogg", ContentFile(b"OggS"), save=True)
    name = Detection.objects.get(pk=detection.pk).evidence.name
    assert re.fullmatch(r"monitors/evidence/\d{4}/\d{2}/[0-9a-f]{32}\.ogg", name), name
    assert "nova" not in name.lower() and f"{monitor.pk}-{detection.pk}" not in name


def test_the_stream_clock_takes_the_earliest_arrival_and_the_middle_of_known_bounds():
    from datetime import timedelta

    t0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    clock = services.StreamClock(origin=t0 + timedelta(seconds=3))  # a burst read in pieces: late
    clock.observe(t0 + timedelta(seconds=12), 10.5)  # 10.5 s had arrived 12 s on: on air by 1.5
    assert clock.origin == t0 + timedelta(seconds=1.5)
    clock.observe(t0 + timedelta(seconds=14), 11.0)  # a later, slower arrival moves nothing
    assert clock.origin == t0 + timedelta(seconds=1.5)
    # A playlist says the audio was published after 0.5 and by 1.0: the middle of what is left.
    clock.bound(t0 + timedelta(seconds=0.5), t0 + timedelta(seconds=1.0), now=t0 + timedelta(seconds=15))
    assert clock.origin == t0 + timedelta(seconds=0.75)
    assert clock.at(10.0) == t0 + timedelta(seconds=10.75)
    # An exact date (EXT-X-PROGRAM-DATE-TIME) wins; one ahead of the arrivals cannot be right.
    clock.bound(t0 + timedelta(seconds=0.6), t0 + timedelta(seconds=0.6), now=t0 + timedelta(seconds=16))
    assert clock.origin == t0 + timedelta(seconds=0.6)
    skewed = services.StreamClock(origin=t0)
    skewed.bound(t0 + timedelta(seconds=2), t0 + timedelta(seconds=2), now=t0 + timedelta(seconds=5))
    assert skewed.origin == t0


def test_the_stream_clock_forgets_bounds_older_than_its_window():
    from datetime import timedelta

    t0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    clock = services.StreamClock(origin=t0)
    late = t0 + timedelta(seconds=0.4)  # the source's clock runs slow: every later arrival is later
    for minute in range(1, 4):
        clock.observe(t0 + timedelta(seconds=60 * minute), 60 * minute - 0.4 * minute)
    assert clock.origin > late  # the first minute's bound no longer holds it back


def test_a_play_the_engine_restarts_after_a_reconnection_stays_one_row(make_user):
    """A resumed play the engine did not recognise as going on (the new connection's clock off by
    more than it allows) is the open row carrying on when its song is where the row's would be;
    a replay of the song from its start is a new row."""
    from recognition.engine import MonitorEvent
    from recognition.monitors.worker import Runner, _key

    owner = make_user(Role.MONITOR)
    track = TrackFactory()
    monitor = Monitor.objects.create(owner=owner, name="Radio", source_url="http://radio.example/live")
    opened = services.detection_start(monitor=monitor, sighting=_sighting(track.pk, 30.0, 40.0), clock=CLOCK)
    runner = Runner(None, monitor)  # type: ignore[arg-type] - _apply needs no worker
    runner.open = {("resumed", track.pk): opened}
    # Heard again 4 s after the row's last write, 4 s further on in the song (12 + 10 + 4).
    going_on = Sighting(track.pk, 44.0, 50.0, 26.0, 32.0, 0.99, None)
    assert runner._apply(MonitorEvent("started", going_on), CLOCK).pk == opened.pk
    assert runner.open == {_key(going_on): opened}
    opened.refresh_from_db()
    assert opened.open and opened.offset_end_s == 32.0 and opened.started_at == CLOCK.at(30.0)
    # Heard again after a takeover (~25 s without a write), where the song would be by then.
    runner.open = {("resumed again", track.pk): opened}
    after_takeover = Sighting(track.pk, 75.0, 80.0, 57.0, 62.0, 0.99, None)  # 32 + (75 - 50)
    assert runner._apply(MonitorEvent("started", after_takeover), CLOCK).pk == opened.pk
    # The song played again from its start: the row ends, a new one opens.
    replay = Sighting(track.pk, 90.0, 95.0, 0.0, 5.0, 0.99, None)
    second = runner._apply(MonitorEvent("started", replay), CLOCK)
    opened.refresh_from_db()
    assert second.pk != opened.pk and not opened.open and second.open
    assert Detection.objects.filter(monitor=monitor).count() == 2
