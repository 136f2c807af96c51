"""The monitor worker end to end on device monitors: real PostgreSQL, Redis, engine and ffmpeg."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import Role
from catalog.demo import synth_song
from recognition.monitors import devices, services
from recognition.monitors.models import Detection, Monitor
from recognition.monitors.worker import MonitorWorker
from recognition.services import track_ingest
from tests import media

pytestmark = pytest.mark.django_db(transaction=True)
FRAME = 2000  # 250 ms at 8 kHz


@pytest.fixture
def songs(rights_holder, tmp_path):
    tracks = {}
    for seed in (51, 52):
        path = media.write_wav(tmp_path / f"song{seed}.wav", synth_song(seed, 40))
        tracks[seed] = track_ingest(path=path, owner=rights_holder, store_audio=False).track
    return tracks


@pytest.fixture
def device(make_user):
    monitor, token = services.monitor_create(owner=make_user(Role.MONITOR), name="Bar", kind=Monitor.Kind.DEVICE)
    assert token.startswith("dev_")
    return monitor


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _feed(monitor: Monitor, samples: np.ndarray) -> None:
    """Send audio as a device does: 250 ms frames at real time (the socket refuses faster)."""
    began = time.monotonic()
    for index, start in enumerate(range(0, samples.size, FRAME)):
        devices.device_audio_append(monitor_id=monitor.pk, pcm=_pcm(samples[start : start + FRAME]))
        time.sleep(max(0.0, began + (index + 1) * FRAME / media.ENGINE_RATE - time.monotonic()))


def _wait(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def _engine_rate(seed: int, seconds: float) -> np.ndarray:
    return media.to_engine_rate(synth_song(seed, 40))[: int(seconds * media.ENGINE_RATE)]


def _started(worker: MonitorWorker, monitor: Monitor) -> None:
    worker.tick()
    assert monitor.pk in worker.runners
    time.sleep(0.5)  # the runner opens its source


def test_a_device_play_becomes_one_closed_detection_with_evidence(songs, device):
    worker = MonitorWorker(threads=2, poll_s=0.5)
    try:
        _started(worker, device)
        silence = np.zeros(14 * media.ENGINE_RATE, np.float32)
        noise = media.add_noise(np.zeros(3 * media.ENGINE_RATE, np.float32) + 1e-3, -20, seed=3)
        _feed(device, np.concatenate([noise, _engine_rate(51, 20), silence]))
        detection = _wait(lambda: Detection.objects.filter(monitor=device, open=False).first(), 60)
        _wait(lambda: Detection.objects.get(pk=detection.pk).evidence, 30)
    finally:
        worker.shutdown()
    detections = list(Detection.objects.filter(monitor=device))
    assert len(detections) == 1
    detection = detections[0]
    assert detection.track_id == songs[51].pk and detection.title == songs[51].title
    assert detection.offset_start_s < 3.0
    assert 16.0 < detection.offset_end_s < 21.0
    assert 16.0 < detection.duration_s < 21.0
    assert detection.ended_at > detection.started_at
    assert Monitor.objects.get(pk=device.pk).state == Monitor.State.RUNNING
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", detection.evidence.path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == "opus"


def test_a_worker_taking_over_mid_play_continues_the_detection(songs, device):
    first = MonitorWorker(threads=2, poll_s=0.5)
    _started(first, device)
    song = _engine_rate(52, 34)
    feeder = threading.Thread(target=_feed, args=(device, np.concatenate([song, np.zeros(14 * media.ENGINE_RATE)])))
    feeder.start()
    began = time.monotonic()
    opened = _wait(lambda: Detection.objects.filter(monitor=device, open=True).first(), 30)
    # The first worker dies: its runner stops, its lease is neither renewed nor given back. The
    # song goes on, heard by nobody until 26 s into it (longer than the engine's gap).
    for runner in first.runners.values():
        runner.stop()
        runner.join(10)
    Monitor.objects.filter(pk=device.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    time.sleep(max(0.0, began + 26 - time.monotonic()))
    second = MonitorWorker(threads=2, poll_s=0.5)
    try:
        second.tick()
        feeder.join()
        _wait(lambda: not Detection.objects.filter(monitor=device, open=True).exists(), 30)
    finally:
        second.shutdown()
        first._close_connections()
        first.pool.shutdown()
    detections = list(Detection.objects.filter(monitor=device))
    rows = [(d.pk, d.started_at, d.ended_at, d.offset_start_s, d.offset_end_s) for d in detections]
    assert [d.pk for d in detections] == [opened.pk], rows
    assert detections[0].offset_end_s > 31.0
    assert 31.0 < detections[0].duration_s < 36.0
    assert Monitor.objects.get(pk=device.pk).lease_owner == ""


def test_pausing_stops_the_runner_and_frees_the_lease(device):
    worker = MonitorWorker(threads=1, poll_s=0.5)
    try:
        _started(worker, device)
        services.monitor_update(monitor=Monitor.objects.get(pk=device.pk), paused=True)
        worker.tick()
        assert device.pk not in worker.runners
        monitor = Monitor.objects.get(pk=device.pk)
        assert monitor.state == Monitor.State.PAUSED
        assert worker.tick() is None and device.pk not in worker.runners
    finally:
        worker.shutdown()


def _stream_monitor(owner, url: str) -> Monitor:
    # Created directly: the checks at creation are tests/monitors/test_api.py's; here the worker
    # must cope with whatever the source does later.
    return Monitor.objects.create(owner=owner, name="Radio", source_url=url)


def test_a_radio_play_is_detected_on_time_and_survives_a_station_restart(songs, make_user, settings):
    from bench.streams import Item, Station, StreamServer

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    rate = media.ENGINE_RATE
    items = [
        Item("noise", media.add_noise(np.zeros(6 * rate, np.float32) + 1e-3, -20, seed=5), rate),
        Item("song", _engine_rate(51, 30), rate),
        Item("silence", np.zeros(10 * rate, np.float32), rate),
    ]
    server = StreamServer(Station(items, loop=True), burst_s=2.0).start()
    monitor = _stream_monitor(make_user(Role.MONITOR), server.station_url())
    worker = MonitorWorker(threads=2, poll_s=0.5)
    try:
        _started(worker, monitor)
        detection = _wait(lambda: Detection.objects.filter(monitor=monitor).first(), 40)
        on_air = [at for _, name, at in server.stations["stream"].item_starts() if name == "song"]
        assert detection.track_id == songs[51].pk
        assert abs(detection.started_at.timestamp() - on_air[0]) < 1.5
        assert detection.created_at.timestamp() - on_air[0] < 8.0  # visible within seconds
        assert Monitor.objects.get(pk=monitor.pk).state == Monitor.State.RUNNING
        port = server.port
        server.stop()
        _wait(lambda: Monitor.objects.get(pk=monitor.pk).state == Monitor.State.RECONNECTING, 20)
        # Back, but answering 404 for the mount (Icecast while the mount's source reconnects):
        # a station that was playing minutes ago is retried, not failed.
        server = StreamServer({}, port=port).start()
        _wait(lambda: "404" in Monitor.objects.get(pk=monitor.pk).state_reason, 20)
        assert Monitor.objects.get(pk=monitor.pk).state == Monitor.State.RECONNECTING
        server.stop()
        server = StreamServer(Station(items, loop=True), burst_s=2.0, port=port).start()
        _wait(lambda: Monitor.objects.get(pk=monitor.pk).state == Monitor.State.RUNNING, 30)
    finally:
        worker.shutdown()
        server.stop()


def test_a_station_that_turns_404_fails_with_its_reason(make_user, settings):
    from bench.streams import HostileServer

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    with HostileServer() as hostile:
        monitor = _stream_monitor(make_user(Role.MONITOR), hostile.url("/404"))
        worker = MonitorWorker(threads=1, poll_s=0.5)
        try:
            worker.tick()
            failed = _wait(lambda: Monitor.objects.filter(pk=monitor.pk, state=Monitor.State.FAILED).first(), 20)
            worker.tick()
        finally:
            worker.shutdown()
    assert "404" in failed.state_reason
    assert Monitor.objects.get(pk=monitor.pk).lease_owner == ""


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def test_hostile_sources_on_the_same_worker_do_not_hold_up_a_radio(songs, make_user, settings):
    """RELIABILITY G24: hostile monitors beside a real one; the real one stays on time."""
    from bench.streams import HostileServer, Item, Station, StreamServer

    settings.EARSHOT_MONITOR_PRIVATE_SOURCES = True
    rate = media.ENGINE_RATE
    items = [Item("quiet", np.zeros(5 * rate, np.float32), rate), Item("song", _engine_rate(52, 30), rate)]
    owner = make_user(Role.MONITOR)
    hostile_paths = ["/random", "/silent", "/giant-chunk", "/endless-headers", "/hls-growing.m3u8", "/hls-endless.m3u8"]
    with HostileServer() as hostile, StreamServer(Station(items, loop=True), burst_s=0.5) as radio:
        hostiles = [_stream_monitor(owner, hostile.url(path)) for path in hostile_paths]
        worker = MonitorWorker(threads=2, poll_s=0.5)
        try:
            before_mb = _rss_mb()
            worker.tick()
            time.sleep(1.0)
            monitor = _stream_monitor(owner, radio.station_url())
            worker.tick()
            detection = _wait(lambda: Detection.objects.filter(monitor=monitor).first(), 60)
            on_air = [at for _, name, at in radio.stations["stream"].item_starts() if name == "song"]
            grown_mb = _rss_mb() - before_mb
        finally:
            worker.shutdown()
    assert detection.track_id == songs[52].pk
    assert detection.created_at.timestamp() - max(t for t in on_air if t <= detection.created_at.timestamp()) < 8.0
    assert not Detection.objects.filter(monitor__in=hostiles).exists()
    assert grown_mb < 100


def test_a_song_played_again_from_its_start_is_a_second_detection(songs, device):
    worker = MonitorWorker(threads=2, poll_s=0.5)
    song = _engine_rate(51, 12)
    gap = np.zeros(2 * media.ENGINE_RATE, np.float32)
    try:
        _started(worker, device)
        _feed(device, np.concatenate([song, gap, song, np.zeros(14 * media.ENGINE_RATE, np.float32)]))
        _wait(lambda: Detection.objects.filter(monitor=device, open=False).count() == 2, 60)
    finally:
        worker.shutdown()
    first, second = Detection.objects.filter(monitor=device).order_by("started_at")
    assert first.track_id == second.track_id == songs[51].pk
    assert first.offset_start_s < 3 and second.offset_start_s < 3
    assert first.offset_end_s > 9 and second.offset_end_s > 9
    assert first.ended_at <= second.started_at
    assert not Detection.objects.filter(monitor=device, open=True).exists()
