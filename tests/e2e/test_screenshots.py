"""Every page at a phone's width (390 px) and a laptop's (1280 px) in headless Chromium, against a
live Daphne with a small catalog, an upload, a monitor and its plays: each answers, runs its
scripts without an error, and never scrolls sideways on the phone.

With EARSHOT_SCREENSHOTS=1 each page is also saved to docs/screenshots/NAME-WIDTH.png (the
viewport, not the whole page, in 256 colours, so the files stay small); without it the tree is
left alone, as in CI. To add a page, add a line to PAGES (and what it needs to `site`).
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from django.core.files import File
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from catalog.demo import synth_song
from catalog.models import Album, Artist, FingerprintStatus
from recognition.models import Play, Recognition, WebhookDelivery
from recognition.monitors.models import Detection, Monitor
from tests import media
from tests.conftest import ROOT
from tests.e2e.conftest import horizontal_overflow_px, session_cookie, signed_in_page
from tests.factories import TrackFactory, UserFactory

pytestmark = pytest.mark.browser
SCREENSHOTS = ROOT / "docs" / "screenshots"
WIDTHS = {390: 844, 1280: 800}  # CSS pixels: an iPhone 14's width, a laptop's


class Page(NamedTuple):
    """A page to visit: its screenshot's name, its URL name (or a path), who looks at it (a key of
    `site`'s cookies; "" for nobody signed in), the object its URL takes (a key of `site`), and
    the status it answers."""

    name: str
    url: str
    who: str = ""
    obj: str = ""
    status: int = 200


PAGES = [
    Page("listen", "home"),
    Page("log-in", "accounts:login"),
    Page("sign-up", "accounts:sign_up"),
    Page("not-found", "/no-such-page/", status=404),
    Page("listen-signed-in", "home", "creator"),
    Page("uploads", "recognition:uploads", "creator"),
    Page("upload-new", "recognition:upload_new", "creator"),
    Page("upload", "recognition:upload", "creator", "upload"),
    Page("upload-hour", "recognition:upload", "creator", "long_upload"),
    Page("history", "recognition:history", "creator"),
    Page("track", "catalog:track", "creator", "track"),
    Page("profile", "accounts:profile", "creator"),
    Page("monitors", "monitors:list", "guard"),
    Page("monitor", "monitors:detail", "guard", "monitor"),
    Page("monitor-log", "monitors:log", "guard", "monitor"),
    Page("detections", "detections:list", "guard"),
    Page("detection", "detections:detail", "guard", "detection"),
    Page("reports", "reports:page", "holder"),
    Page("admin-tracks", "admin:catalog_track_changelist", "holder"),
    Page("console", "console:index", "partner"),
    Page("console-webhook", "console:webhook", "partner", "webhook"),
    Page("console-try", "console:try", "partner"),
]


def _catalog():
    holder = UserFactory(role=Role.RIGHTS_HOLDER, username="harbour", first_name="Harbour", last_name="Records")
    artist = Artist.objects.create(owner=holder, name="The Examples")
    album = Album.objects.create(owner=holder, title="Low Tide", release_year=2025)
    tracks = []
    for i, title in enumerate(("Harbour Lights", "Copper Sky", "Tidewater", "Low Sun")):
        track = TrackFactory(
            owner=holder, title=title, album=album, isrc=f"GBAYE26{i:05d}", duration_s=185.4 + 37 * i,
            fingerprint_status=FingerprintStatus.READY, hash_count=1000,
        )  # fmt: skip
        track.artists.add(artist)
        tracks.append(track)
    return holder, tracks


def _segment(track, start_s: float, end_s: float, offset_s: float, confidence: float) -> dict:
    return {
        "track_id": track.pk, "title": track.title, "artist": "The Examples", "start_s": start_s,
        "end_s": end_s, "offset_s": offset_s, "confidence": confidence,
    }  # fmt: skip


def _uploads(creator, tracks, tmp_path: Path) -> dict:
    rate = media.FILE_RATE
    soundtrack = np.concatenate([synth_song(61, 30)[: rate * 24], np.zeros(rate * 6, np.float32), synth_song(62, 24)])
    video = media.video_with_audio(soundtrack * 0.8, tmp_path / "Beach day.mp4")
    now = timezone.now()
    upload = Recognition.objects.create(
        user=creator, source=Recognition.Source.UPLOAD, status=Recognition.Status.DONE,
        original_name="Beach day, final cut.mp4", heard_s=54.0, media_duration_s=54.0, latency_ms=1834.0,
        keep_media=True, finished_at=now, progress=1.0, track=tracks[0], size_bytes=video.stat().st_size,
        segments=[_segment(tracks[0], 0.4, 23.8, 61.2, 0.97), _segment(tracks[2], 30.1, 54.0, 12.0, 0.62)],
    )  # fmt: skip
    with video.open("rb") as handle:
        upload.media.save("Beach day.mp4", File(handle), save=True)
    rng = np.random.default_rng(37)
    segments, at = [], 4.0
    while at < 3540:
        length = float(rng.uniform(15, 160))
        track = tracks[int(rng.integers(0, 4))]
        segments.append(
            _segment(track, round(at, 2), round(min(at + length, 3598), 2), 20.0, float(rng.uniform(0.3, 1)))
        )
        at += length + float(rng.choice([0, 0, 6, 25, 90]))
    long_upload = Recognition.objects.create(
        user=creator, source=Recognition.Source.UPLOAD, status=Recognition.Status.DONE,
        original_name="Live stream archive, 28 November (full evening set).mkv", heard_s=3600.0,
        media_duration_s=3600.0, latency_ms=14210.0, finished_at=now, progress=1.0, segments=segments,
    )  # fmt: skip
    Recognition.objects.create(
        user=creator, source=Recognition.Source.UPLOAD, status=Recognition.Status.FAILED,
        original_name="notes.txt", error_code="not_media", error_message="This file is not audio or video.",
    )  # fmt: skip
    Recognition.objects.create(
        user=creator, source=Recognition.Source.MICROPHONE, status=Recognition.Status.DONE, track=tracks[1],
        offset_s=83.2, confidence=0.81, heard_s=6.1, latency_ms=812.0, finished_at=now,
    )  # fmt: skip
    for job, days_ago in ((upload, 2), (long_upload, 9)):  # an upload's plays share when it was heard
        for segment in job.segments[:12]:
            Play.objects.create(
                recognition=job, track_id=segment["track_id"], source=job.source,
                heard_at=now - dt.timedelta(days=days_ago), played_s=segment["end_s"] - segment["start_s"],
                start_s=segment["start_s"], offset_s=segment["offset_s"],
            )  # fmt: skip
    return {"upload": upload, "long_upload": long_upload}


def _monitor(guard, tracks) -> dict:
    monitor = Monitor.objects.create(
        owner=guard, name="Radio One", source_url="https://radio.example/stream.mp3",
        state=Monitor.State.RUNNING, heard_last_minute_s=59.5,
    )  # fmt: skip
    now = timezone.now().replace(microsecond=0)
    detections = []
    for i in range(14):
        track = tracks[i % 4]
        started = now - dt.timedelta(hours=21 * i, minutes=7)  # two weeks of plays, the latest still on
        detection = Detection.objects.create(
            monitor=monitor, track=track, title=track.title, artist="The Examples", started_at=started,
            ended_at=started + dt.timedelta(seconds=150 + 11 * i), offset_start_s=4.2, offset_end_s=154.2 + 11 * i,
            confidence=0.93 - i / 50, speed=1.0, open=i == 0, disputed=i == 3,
        )  # fmt: skip
        detections.append(detection)
    return {"monitor": monitor, "detection": detections[1]}


def _console() -> dict:
    """A partner with two keys and a webhook whose test event was delivered."""
    from django.test import override_settings

    from accounts.services import api_key_create
    from recognition.services.webhooks import webhook_create

    partner = UserFactory(role=Role.PARTNER, username="tideline-apps")
    api_key_create(user=partner, name="Production app")
    api_key_create(user=partner, name="Nightly catalog sync", scopes=["catalog"])
    with override_settings(EARSHOT_WEBHOOKS_ALLOW_PRIVATE=True):  # resolves nowhere else here
        webhook, _ = webhook_create(user=partner, url="http://127.0.0.1:8099/hooks/earshot")
    WebhookDelivery.objects.create(
        webhook=webhook, event="ping", status=WebhookDelivery.Status.DELIVERED, attempts=1, last_status_code=200,
        delivered_at=timezone.now(),
    )  # fmt: skip
    return {"webhook": webhook}


@pytest.fixture
def site(transactional_db, tmp_path) -> dict:
    """Rows behind every page of PAGES, and each viewer's session cookie under "cookies"."""
    holder, tracks = _catalog()
    creator = UserFactory(role=Role.CREATOR, username="coastal-vlogs")
    guard = UserFactory(role=Role.MONITOR, username="night-guard")
    return {
        **_console(),
        "track": _showcase(tracks[0]),
        **_uploads(creator, tracks, tmp_path),
        **_monitor(guard, tracks),
        "cookies": {
            "creator": session_cookie(creator),
            "guard": session_cookie(guard),
            "holder": session_cookie(holder),
            "partner": session_cookie(User.objects.get(username="tideline-apps")),
        },
    }


def _showcase(track):
    """A track as its owner dresses it: artwork and links (the track page shows both)."""
    from PIL import Image

    from catalog.services import track_artwork_set, track_update

    out = io.BytesIO()
    Image.linear_gradient("L").resize((600, 600)).convert("RGB").save(out, "PNG")
    track_artwork_set(track=track, image=out.getvalue())
    return track_update(track=track, links=["https://open.spotify.com/track/example", "https://example.org/song"])


def _url(page: Page, site: dict) -> str:
    if page.url.startswith("/"):
        return page.url
    return reverse(page.url, args=[site[page.obj].pk] if page.obj else [])


def _save(png: bytes, path: Path) -> None:
    """A screenshot in 256 colours: a third of the bytes, and the pages are flat colours anyway."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def test_every_page_fits_a_phone_and_a_laptop(site, daphne_server, chromium_browser):
    keep = os.environ.get("EARSHOT_SCREENSHOTS") == "1"
    if keep:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for width, height in WIDTHS.items():
        for entry in PAGES:
            cookie = site["cookies"][entry.who] if entry.who else None
            page = signed_in_page(chromium_browser, daphne_server, cookie, width=width, height=height)
            response = page.goto(daphne_server + _url(entry, site), wait_until="load")
            page.wait_for_timeout(300)  # scripts lay out timelines and charts after load
            if response is None or response.status != entry.status:
                problems.append(f"{entry.name}: status {response and response.status}, not {entry.status}")
            if width <= 390 and (overflow := horizontal_overflow_px(page)):
                problems.append(f"{entry.name}: scrolls {overflow} px sideways at {width} px")
            if page.errors:
                problems.append(f"{entry.name} at {width} px: script errors {page.errors}")
            if keep:
                _save(page.screenshot(full_page=False), SCREENSHOTS / f"{entry.name}-{width}.png")
            page.context.close()
    assert not problems, "\n".join(problems)
