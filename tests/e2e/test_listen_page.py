"""The record page end to end: Chromium's microphone plays a WAV, a live Daphne answers."""

import os

import numpy as np
import pytest

from catalog.demo import synth_song
from recognition.services import track_ingest
from tests import media

# Database fixtures come before the browser in every test: Playwright's sync API runs an event
# loop, and Django refuses ORM calls while one is running.
pytestmark = pytest.mark.browser


@pytest.fixture
def catalog_track(rights_holder, tmp_path):
    path = media.write_wav(tmp_path / "reference.wav", synth_song(51, 60))
    return track_ingest(path=path, owner=rights_holder, title="Harbour Lights", store_audio=False).track


def _microphone_file(tmp_path, samples, name):
    # 48 kHz stereo, like a real capture device; the page downmixes and resamples it.
    from scipy import signal

    wide = signal.resample_poly(samples, 48000, media.FILE_RATE).astype(np.float32)
    return media.write_wav(tmp_path / name, wide, rate=48000, channels=2)


def test_the_page_names_the_song_the_microphone_hears(catalog_track, daphne_server, browser_with_microphone, tmp_path):
    clip = synth_song(51, 60)[media.FILE_RATE * 20 : media.FILE_RATE * 35]
    browser = browser_with_microphone(_microphone_file(tmp_path, clip, "mic.wav"))
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("listen").click()
    title = page.get_by_test_id("match-title")
    title.wait_for(state="visible", timeout=30_000)
    assert title.inner_text() == "Harbour Lights"
    # EARSHOT_SCREENSHOT=path keeps a picture of the answer (the README's comes from here).
    if os.environ.get("EARSHOT_SCREENSHOT"):
        # The result card fades in: wait for its animations to end rather than a fixed 1.5 s.
        page.get_by_test_id("match").evaluate("card => Promise.all(card.getAnimations().map(a => a.finished))")
        page.screenshot(path=os.environ["EARSHOT_SCREENSHOT"], full_page=True)


def test_unknown_audio_shows_no_match(catalog_track, daphne_server, browser_with_microphone, tmp_path):
    browser = browser_with_microphone(_microphone_file(tmp_path, synth_song(5252, 20), "unknown.wav"))
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("listen").click()
    page.get_by_test_id("no-match").wait_for(state="visible", timeout=40_000)
    assert page.get_by_test_id("match-title").is_hidden()
