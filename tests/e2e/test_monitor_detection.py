"""A venue device monitor end to end: Chromium's microphone plays a catalog song on the device
page, a live Daphne takes the audio, a monitor worker in this process recognises it, and the
detection appears on the monitor's page without a reload."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from catalog.demo import synth_song
from recognition.monitors.models import Detection
from recognition.monitors.worker import MonitorWorker
from recognition.services import track_ingest
from tests import media
from tests.e2e.conftest import microphone_file

# Database fixtures come before the browser: Playwright's sync API runs an event loop, and Django
# refuses ORM calls in this thread while one is running (the worker's threads have none).
pytestmark = pytest.mark.browser


@pytest.fixture
def catalog_track(rights_holder, tmp_path):
    path = media.write_wav(tmp_path / "reference.wav", synth_song(51, 60))
    return track_ingest(path=path, owner=rights_holder, title="Harbour Lights", store_audio=False).track


@pytest.fixture
def worker(transactional_db):
    """A monitor worker running in a thread of the test process, against the test database."""
    stop = threading.Event()
    monitor_worker = MonitorWorker(threads=2, poll_s=0.5)
    thread = threading.Thread(target=monitor_worker.run, args=(stop,), daemon=True)
    thread.start()
    yield monitor_worker
    stop.set()
    thread.join(timeout=30)


def test_a_song_in_the_venue_appears_on_the_monitor_page(
    catalog_track, venue, daphne_server, worker, browser_with_microphone, tmp_path
):
    monitor, token, cookie = venue
    clip = synth_song(51, 60)[media.FILE_RATE * 10 : media.FILE_RATE * 40]  # 30 s from 0:10, looped
    browser = browser_with_microphone(microphone_file(tmp_path, clip))

    office = browser.new_context()
    office.add_cookies([{"name": "sessionid", "value": cookie, "url": daphne_server}])
    page = office.new_page()
    page.goto(f"{daphne_server}/monitors/{monitor.pk}/")
    assert page.get_by_test_id("detection").count() == 0
    page.evaluate("window.notReloaded = true")

    venue_page = browser.new_context().new_page()
    venue_page.goto(f"{daphne_server}/monitors/{monitor.pk}/device#token={token}")
    venue_page.get_by_test_id("device-start").click()
    venue_page.get_by_test_id("device-status").filter(has_text="Streaming").wait_for(timeout=20_000)
    assert venue_page.get_by_test_id("device-monitor").inner_text() == "Corner bar"

    title = page.get_by_test_id("detection-title").first
    title.wait_for(state="visible", timeout=60_000)
    assert title.inner_text() == "Harbour Lights"
    assert page.evaluate("window.notReloaded") is True  # it came by polling, not a reload
    page.get_by_test_id("monitor-state").filter(has_text="Running").wait_for(timeout=15_000)
    venue_page.get_by_test_id("device-details").filter(has_text="1 detections today").wait_for(timeout=15_000)
    venue_page.get_by_test_id("device-stop").click()

    with ThreadPoolExecutor(1) as pool:  # the ORM, away from Playwright's loop
        detections = pool.submit(lambda: list(Detection.objects.filter(monitor=monitor))).result()
    assert [d.track_id for d in detections] == [catalog_track.pk]
    assert 5.0 < detections[0].offset_start_s < 40.0
