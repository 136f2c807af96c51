"""The record page end to end: Chromium's microphone plays a WAV, a live Daphne answers."""

import os

import numpy as np
import pytest
from django.core.management import call_command

from catalog.demo import DEMO_ALBUMS, DemoAlbum, demo_cover, synth_song
from catalog.models import Track
from catalog.selectors import DEMO_OWNER, demo_songs
from catalog.services import album_artwork_set, album_update, track_update
from recognition.engine import audio
from recognition.services import identifier, track_ingest
from tests import media
from tests.e2e.conftest import horizontal_overflow_px

# Database fixtures come before the browser in every test: Playwright's sync API runs an event
# loop, and Django refuses ORM calls while one is running.
pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}  # an iPhone 12 to 15 in portrait, CSS pixels
ROOM_SEED, ROOM_LEVEL = 5353, 0.3  # another song, not in the catalog, playing in the room


@pytest.fixture
def catalog_track(rights_holder, tmp_path):
    """A song as a rights holder describes it: album and year, artwork, links, previews allowed."""
    path = media.write_wav(tmp_path / "reference.wav", synth_song(51, 60))
    track = track_ingest(path=path, owner=rights_holder, title="Harbour Lights", artist_names=["The Examples"]).track
    track_update(
        track=track, album="Examples Live", preview_allowed=True,
        links=["https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "https://label.example/harbour-lights"],
    )  # fmt: skip
    album = Track.objects.get(pk=track.pk).album
    album_update(album=album, release_year=2025)
    cover = DemoAlbum("Examples Live", "The Examples", 2025, "", (), "", ())
    album_artwork_set(album=album, image=demo_cover(cover))
    return track


def _microphone_file(tmp_path, samples, name):
    # 48 kHz stereo, like a real capture device; the page downmixes and resamples it.
    from scipy import signal

    wide = signal.resample_poly(samples, 48000, media.FILE_RATE).astype(np.float32)
    return media.write_wav(tmp_path / name, wide, rate=48000, channels=2)


def _card_shown(page) -> None:
    """Wait until the result card has faded in and its artwork has loaded."""
    page.get_by_test_id("match").evaluate("card => Promise.all(card.getAnimations().map(a => a.finished))")
    page.get_by_test_id("match-artwork").evaluate(
        "img => img.complete ? null : new Promise(done => img.addEventListener('load', done, {once: true}))"
    )


def test_the_page_names_the_song_the_microphone_hears(catalog_track, daphne_server, browser_with_microphone, tmp_path):
    clip = synth_song(51, 60)[media.FILE_RATE * 20 : media.FILE_RATE * 35]
    browser = browser_with_microphone(_microphone_file(tmp_path, clip, "mic.wav"))
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("listen").click()
    title = page.get_by_test_id("match-title")
    title.wait_for(state="visible", timeout=30_000)
    assert title.inner_text() == "Harbour Lights"
    # Like a music app: artwork, artist, album and year, the rights holder's links, a preview.
    _card_shown(page)
    assert page.get_by_test_id("match-artist").inner_text() == "The Examples"
    assert page.get_by_test_id("match-album").inner_text() == "Examples Live"
    assert page.get_by_test_id("match-year").inner_text() == "2025"
    assert page.get_by_test_id("match-artwork").evaluate("img => img.naturalWidth") == 600
    links = page.get_by_test_id("match-links").locator("a")
    assert links.all_inner_texts() == ["Spotify", "label.example"]
    assert links.first.get_attribute("href") == "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"
    assert page.get_by_test_id("match-confidence-label").inner_text() in {"very high", "high", "good", "fair"}
    assert page.get_by_test_id("match-confidence").inner_text().endswith(" %")
    preview = page.get_by_test_id("match-preview")
    # The preview is playable MP3 of 30 s (Chromium reads its length once it has loaded it).
    seconds = preview.evaluate(
        "audio => new Promise((done, fail) => { audio.onloadedmetadata = () => done(audio.duration);"
        " audio.onerror = () => fail(String(audio.error && audio.error.code)); audio.preload = 'auto'; audio.load(); })"
    )
    assert seconds == pytest.approx(30, abs=0.5)
    # EARSHOT_SCREENSHOT=path keeps a picture of the answer (the README's comes from here).
    if os.environ.get("EARSHOT_SCREENSHOT"):
        page.screenshot(path=os.environ["EARSHOT_SCREENSHOT"], full_page=True)


def test_unknown_audio_shows_no_match_and_how_to_try_again(
    catalog_track, daphne_server, browser_with_microphone, tmp_path
):
    browser = browser_with_microphone(_microphone_file(tmp_path, synth_song(5252, 20), "unknown.wav"))
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("listen").click()
    no_match = page.get_by_test_id("no-match")
    no_match.wait_for(state="visible", timeout=40_000)
    assert page.get_by_test_id("match-title").is_hidden()
    guidance = no_match.inner_text()
    assert "closer to the speaker" in guidance and "noise" in guidance and "10 seconds or more" in guidance
    page.get_by_test_id("retry").click()
    assert page.get_by_test_id("status").inner_text() == "Listening…" and no_match.is_hidden()


@pytest.fixture
def demo_catalog(transactional_db, settings):
    """The demo catalog as `make run` loads it, loaded twice (the second load must change nothing):
    ({track id: title} of its tracks, the demo songs the engine does not name from as much of their
    preview as an anonymous listener's page sends, with another song playing in the room)."""
    settings.DEBUG = True  # load_demo refuses to run otherwise
    call_command("load_demo", verbosity=0)
    titles = dict(Track.objects.filter(owner__username=DEMO_OWNER).values_list("pk", "title"))
    assert len(titles) == sum(len(album.present()) for album in DEMO_ALBUMS)
    call_command("load_demo", verbosity=0)
    assert dict(Track.objects.filter(owner__username=DEMO_OWNER).values_list("pk", "title")) == titles
    settings.DEBUG = False
    room = ROOM_LEVEL * media.to_engine_rate(synth_song(ROOM_SEED, 15))
    missed = []
    for song in demo_songs():
        preview = Track.objects.get(pk=song["track_id"]).preview.path
        heard = audio.decode(preview, sample_rate_hz=8000, max_seconds=settings.EARSHOT_LISTEN["anonymous_max_audio_s"])
        found = identifier().identify(heard + room[: heard.size])
        if found is None or found.track_id != song["track_id"]:
            missed.append(titles[song["track_id"]])
    return titles, missed


def test_a_demo_song_from_a_fresh_load_demo_is_named_on_a_phone(
    demo_catalog, daphne_server, browser_with_microphone, tmp_path
):
    """The first try of a new user: `load_demo`, the listen page on a phone, "Play a demo song".
    The room is not quiet (the microphone hears another song): the demo song, mixed into what the
    page sends as well as played, is named all the same. The button picks a song at random, so
    the engine is also asked for every one of them, as an anonymous listener's page sends it."""
    titles, missed = demo_catalog
    assert missed == []
    room = ROOM_LEVEL * synth_song(ROOM_SEED, 40)
    browser = browser_with_microphone(_microphone_file(tmp_path, room, "room.wav"))
    page = browser.new_page(viewport=PHONE)
    page.goto(daphne_server + "/")
    page.get_by_test_id("demo").click()
    title = page.get_by_test_id("match-title")
    title.wait_for(state="visible", timeout=30_000)
    played = int(page.locator("[data-listen]").get_attribute("data-demo-track-id"))
    assert title.inner_text() == titles[played]
    _card_shown(page)
    assert page.get_by_test_id("match-artwork").is_visible()
    assert page.get_by_test_id("match-preview").get_attribute("src").startswith(f"/tracks/{played}/preview")
    # Nothing wider than the phone: no sideways scrolling, the card inside the screen.
    assert horizontal_overflow_px(page) == 0
    card = page.get_by_test_id("match").bounding_box()
    assert card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]


@pytest.fixture
def one_demo_song(make_user, tmp_path):
    """A demo catalog of one song (what load_demo makes of it, without the minutes it takes)."""
    owner = make_user(role="rights_holder", username=DEMO_OWNER)
    path = media.write_wav(tmp_path / "demo.wav", synth_song(61, 45))
    track = track_ingest(path=path, owner=owner, title="Synthetic Sunrise").track
    track_update(track=track, preview_allowed=True)
    return track


def test_without_a_microphone_the_demo_song_alone_is_named(
    one_demo_song, daphne_server, browser_with_microphone, tmp_path
):
    browser = browser_with_microphone(_microphone_file(tmp_path, synth_song(5454, 5), "unused.wav"), microphone=False)
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("demo").click()
    page.get_by_test_id("match-title").wait_for(state="visible", timeout=30_000)
    assert page.get_by_test_id("match-title").inner_text() == "Synthetic Sunrise"
    # The plain Listen button still needs the microphone, and says so.
    page.get_by_test_id("listen").click()
    page.get_by_text("Earshot needs your microphone").wait_for(timeout=10_000)


def test_without_a_demo_catalog_there_is_no_demo_button(daphne_server, browser_with_microphone, tmp_path):
    browser = browser_with_microphone(_microphone_file(tmp_path, synth_song(5454, 5), "unused.wav"))
    page = browser.new_page()
    page.goto(daphne_server + "/")
    page.get_by_test_id("listen").wait_for()
    assert page.get_by_test_id("demo").count() == 0
