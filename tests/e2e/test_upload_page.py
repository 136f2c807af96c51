"""An upload's results in Chromium against a live Daphne: a video uploaded through the page, its
player synced with the timeline (click to seek, a moving playhead), a phone's width, and the
zoom that keeps an hour of many songs readable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import Role
from catalog.demo import synth_song
from recognition.models import Recognition
from recognition.services import track_ingest
from tests import media
from tests.e2e.conftest import horizontal_overflow_px, session_cookie, signed_in_page
from tests.factories import UserFactory

pytestmark = pytest.mark.browser
RATE = media.FILE_RATE


@pytest.fixture
def creator_with_catalog(transactional_db, tmp_path):
    """(session cookie of a creator, their vlog on disk, an hour-long done upload of theirs)."""
    holder = UserFactory(role=Role.RIGHTS_HOLDER, username="harbour", first_name="Harbour", last_name="Records")
    tracks = []
    for seed, title in ((61, "First Light"), (62, "Second Wind")):
        path = media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, 60))
        tracks.append(track_ingest(path=path, owner=holder, title=title, store_audio=False).track)
    creator = UserFactory(role=Role.CREATOR, username="vlogger")
    soundtrack = np.concatenate([
        synth_song(61, 60)[RATE * 10 : RATE * 30],  # 0-20 s: First Light from 0:10
        np.zeros(RATE * 4, np.float32),  # 20-24 s: nothing
        synth_song(62, 60)[RATE * 5 : RATE * 20],  # 24-39 s: Second Wind from 0:05
        synth_song(9001, 8) * 0.8,  # 39-47 s: music that is not in the catalog
    ])  # fmt: skip
    vlog = media.video_with_audio(soundtrack * 0.8, tmp_path / "Beach day.mp4")
    segments = [
        {"track_id": tracks[i % 2].pk, "title": tracks[i % 2].title, "artist": "", "start_s": 70.0 * i + 3,
         "end_s": 70.0 * i + 48, "offset_s": 12.0, "confidence": 0.9}
        for i in range(51)
    ]  # fmt: skip
    evening = Recognition.objects.create(
        user=creator, source=Recognition.Source.UPLOAD, status=Recognition.Status.DONE, original_name="Evening.mkv",
        heard_s=3600.0, latency_ms=14000.0, segments=segments, finished_at=timezone.now(), progress=1.0,
    )  # fmt: skip
    return session_cookie(creator), vlog, evening


def test_an_uploaded_video_plays_from_the_song_clicked_on_its_timeline(
    creator_with_catalog, daphne_server, chromium_browser
):
    cookie, vlog, _ = creator_with_catalog
    page = signed_in_page(chromium_browser, daphne_server, cookie, width=1280, height=900)
    page.goto(f"{daphne_server}/uploads/new/")
    page.locator("[data-role=file]").set_input_files(str(vlog))
    page.get_by_label("Keep the file").check()
    page.get_by_test_id("upload-submit").click()
    page.wait_for_url("**/uploads/*-*/")  # the job page (the job ran as it was queued)
    assert page.get_by_test_id("job-status").inner_text() == "Done"
    bars = page.get_by_test_id("timeline-bar")
    assert bars.count() == 2
    song = page.get_by_test_id("segment").nth(1)
    assert song.locator("[data-field=title]").inner_text() == "Second Wind"
    assert "rights: Harbour Records" in song.inner_text() and "0:05–0:" in song.inner_text()  # of the song
    ticks = page.locator("[data-role=axis] .tick").all_inner_texts()
    assert ticks[0] == "0:00" and "0:30" in ticks  # m:ss on round times

    player = page.get_by_test_id("player")
    player.evaluate("video => video.readyState >= 1 || new Promise(r => video.addEventListener('loadedmetadata', r))")
    bars.nth(1).click()  # Second Wind starts at ~0:24
    page.wait_for_function("() => !document.querySelector('[data-role=player]').paused", timeout=10_000)
    at = player.evaluate("video => video.currentTime")
    start = float(bars.nth(1).get_attribute("data-start-s"))
    assert abs(at - start) < 1.5, (at, start)
    assert "is-playing" in (song.get_attribute("class") or "")  # the song playing is marked in the list
    before = page.locator("[data-role=playhead]").evaluate("el => parseFloat(el.style.left)")
    page.wait_for_timeout(1200)
    after = page.locator("[data-role=playhead]").evaluate("el => parseFloat(el.style.left)")
    assert after > before > 40  # it moves, from ~24 s of ~47 s

    page.get_by_test_id("seek").first.click()  # "Play from 0:00"
    page.wait_for_function("() => document.querySelector('[data-role=player]').currentTime < 5")
    assert page.errors == []

    phone = signed_in_page(chromium_browser, daphne_server, cookie, width=390)
    phone.goto(page.url)
    phone.get_by_test_id("timeline").wait_for()
    assert horizontal_overflow_px(phone) == 0
    assert phone.get_by_test_id("player").bounding_box()["width"] <= 390


def _overlapping(boxes: list[dict]) -> bool:
    return any(a["x"] + a["width"] > b["x"] for a, b in itertools.pairwise(boxes))


def test_an_hour_of_songs_zooms_within_the_timeline_and_never_crowds_its_labels(
    creator_with_catalog, daphne_server, chromium_browser
):
    cookie, _, evening = creator_with_catalog
    for width in (390, 1280):
        page = signed_in_page(chromium_browser, daphne_server, cookie, width=width)
        page.goto(f"{daphne_server}/uploads/{evening.pk}/")
        assert page.get_by_test_id("segment").count() == 51 and horizontal_overflow_px(page) == 0
        ticks = page.locator("[data-role=axis] .tick")
        assert ticks.first.inner_text() == "0:00" and not _overlapping([t.bounding_box() for t in ticks.all()])
        scroller = page.locator("[data-role=timeline-scroll]")
        page.get_by_test_id("zoom-in").click()
        page.get_by_test_id("zoom-in").click()
        widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert widths[0] >= 3.9 * widths[1]  # four times as wide, scrolled inside the card
        assert horizontal_overflow_px(page) == 0
        labels = ticks.all_inner_texts()
        assert len(labels) > 7 and not _overlapping([t.bounding_box() for t in ticks.all()])  # finer ticks
        bar = page.get_by_test_id("timeline-bar").nth(25).bounding_box()
        assert bar["width"] >= 8  # a 45 s song is a target a finger can find
        page.get_by_test_id("zoom-fit").click()
        assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
        assert page.errors == []
