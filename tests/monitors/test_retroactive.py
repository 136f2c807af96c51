"""Retroactive scans end to end: a real worker on a real loopback stream keeps what it heard; a
track added afterwards is found in it (real PostgreSQL, engine, ffmpeg; tasks run at once)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from accounts.services import api_key_create
from catalog.demo import synth_song
from recognition.models import WebhookDelivery
from recognition.monitors import retroactive
from recognition.monitors.models import Detection, Monitor, RetainedMinute, RetroactiveScan
from recognition.monitors.worker import MonitorWorker
from recognition.services import track_ingest
from recognition.services.webhooks import webhook_create
from tests import media
from tests.monitors.test_api import URL
from tests.monitors.test_worker import _engine_rate, _wait

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_track_added_after_it_played_is_found_in_the_retained_history(
    rights_holder, monitor_user, api, tmp_path, settings
):
    from bench.streams import Item, Station, StreamServer

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    rate = media.ENGINE_RATE
    known = track_ingest(
        path=media.write_wav(tmp_path / "known.wav", synth_song(51, 40)), owner=rights_holder, store_audio=False
    ).track
    noise = media.add_noise(np.zeros(3 * rate, np.float32) + 1e-3, -20, seed=7)
    items = [
        Item("noise", noise, rate),
        Item("known", _engine_rate(51, 15), rate),
        Item("gap", np.zeros(4 * rate, np.float32), rate),
        Item("later", _engine_rate(52, 20), rate),
        Item("silence", np.zeros(30 * rate, np.float32), rate),
    ]
    monitor = Monitor.objects.create(owner=monitor_user, name="Radio", source_url="http://placeholder/")
    with StreamServer(Station(items, loop=False), burst_s=2.0) as server:
        Monitor.objects.filter(pk=monitor.pk).update(source_url=server.station_url())
        worker = MonitorWorker(threads=2, poll_s=0.5)
        try:
            worker.tick()
            live = _wait(lambda: Detection.objects.filter(monitor=monitor, open=False).first(), 60)
            played = {name: at for _, name, at in server.stations["stream"].item_starts()}
            # Until the later song has ended and a few seconds after (its last peaks made final).
            time.sleep(max(0.0, played["known"] + 15 + 4 + 20 + 4 - time.time()))
        finally:
            worker.shutdown()  # the runner keeps its last, partial minute as it stops
    assert live.track_id == known.pk and not live.retroactive
    assert RetainedMinute.objects.filter(monitor=monitor).exists()
    assert not Detection.objects.filter(monitor=monitor).exclude(pk=live.pk).exists()

    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    webhook_create(user=monitor_user, url="http://127.0.0.1:9/hook")  # nobody listens: the delivery is logged
    began = time.monotonic()
    later = track_ingest(
        path=media.write_wav(tmp_path / "later.wav", synth_song(52, 40)), owner=rights_holder, store_audio=False
    ).track  # the scan runs when it commits (tasks run at once here)
    scan_s = time.monotonic() - began
    found = list(Detection.objects.filter(monitor=monitor, retroactive=True))
    assert [d.track_id for d in found] == [later.pk], scan_s
    detection = found[0]
    later_on_air = played["known"] + 15 + 4
    assert abs(detection.started_at.timestamp() - later_on_air) < 1.5
    assert abs(detection.ended_at.timestamp() - (later_on_air + 20)) < 1.5
    assert detection.offset_start_s < 2.0 and 18.0 < detection.offset_end_s <= 20.5
    assert not detection.open and detection.title == later.title
    assert WebhookDelivery.objects.filter(detection=detection, event="detection.retroactive").exists()
    assert not RetroactiveScan.objects.exists()
    # In the API, marked; and searching again for both tracks adds no duplicate of either.
    owner_api = api.as_key(api_key_create(user=monitor_user, name="tests")[1])
    rows = owner_api.get(f"{URL}/{monitor.pk}/detections").json()["results"]
    assert {(r["id"], r["retroactive"]) for r in rows} == {(live.pk, False), (detection.pk, True)}
    again = retroactive.retroactive_scan(track_ids=[known.pk, later.pk])
    assert again.detections == [] and again.monitors == 1
    assert Detection.objects.filter(monitor=monitor).count() == 2


def test_the_monitor_page_marks_a_play_found_later(client, monitor_user, device_monitor, detect):
    from tests.factories import TrackFactory

    monitor, _ = device_monitor
    live = detect(monitor, TrackFactory(title="Heard Live"), minutes_ago=9)
    later = detect(monitor, TrackFactory(title="Found Later"), minutes_ago=5)
    Detection.objects.filter(pk=later.pk).update(retroactive=True)
    client.force_login(monitor_user)
    page = client.get(f"/monitors/{monitor.pk}/").content.decode()
    assert page.count('data-testid="detection-retroactive"') == 1
    assert page.index("Found Later") < page.index('data-testid="detection-retroactive"') < page.index("Heard Live")
    status = client.get(f"/monitors/{monitor.pk}/status").json()
    assert {d["id"]: d["retroactive"] for d in status["detections"]} == {live.pk: False, later.pk: True}


def _waiting_scan(rights_holder, **fields) -> RetroactiveScan:
    from tests.factories import TrackFactory

    return RetroactiveScan.objects.create(track=TrackFactory(owner=rights_holder), **fields)


def test_one_scan_at_a_time_and_the_one_running_takes_what_arrived(rights_holder):
    import psycopg2
    from django.db import connection

    waiting = _waiting_scan(rights_holder)
    settings_dict = connection.settings_dict
    other = psycopg2.connect(
        dbname=settings_dict["NAME"], user=settings_dict["USER"], host=settings_dict["HOST"],
        port=settings_dict["PORT"] or 5432,
    )  # fmt: skip
    try:
        with other.cursor() as cursor:  # another process is scanning
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [retroactive.SCAN_LOCK_KEY])
        assert retroactive.retroactive_scans_due() is None
        assert RetroactiveScan.objects.filter(pk=waiting.pk).exists()  # left for the scan running
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [retroactive.SCAN_LOCK_KEY])
    finally:
        other.close()
    result = retroactive.retroactive_scans_due()
    assert result is not None and result.tracks == [waiting.track_id]
    assert not RetroactiveScan.objects.exists()


def test_scans_that_waited_too_long_are_queued_again(rights_holder):
    from datetime import timedelta

    from django.utils import timezone

    fresh = _waiting_scan(rights_holder)
    assert retroactive.retroactive_scans_requeue() is False  # a fresh one: its own task is coming
    assert RetroactiveScan.objects.filter(pk=fresh.pk).exists()
    RetroactiveScan.objects.filter(pk=fresh.pk).update(
        requested_at=timezone.now() - timedelta(seconds=retroactive.STALE_SCAN_S + 60)
    )
    assert retroactive.retroactive_scans_requeue() is True  # queued; tasks run at once in tests
    assert not RetroactiveScan.objects.exists()
