"""Headless Chromium driven by Playwright, its microphone fed from a WAV file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.test import Client

from recognition.monitors import services
from recognition.monitors.models import Monitor
from tests import media

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_with_microphone(tmp_path):
    """Launch Chromium whose microphone plays a given WAV file (Chromium's fake capture device);
    with `microphone=False`, Chromium refuses every page the microphone, as a listener who said no."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: `make test` installs it")
    manager = sync_playwright().start()
    launched = []

    def launch(wav: Path, *, microphone: bool = True):
        browser = manager.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-ui-for-media-stream" if microphone else "--deny-permission-prompts",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()
    manager.stop()


@pytest.fixture
def chromium():
    """Headless Chromium (Debian's), for pages that need no microphone."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: `make test` installs it")
    with sync_playwright() as manager:
        browser = manager.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


@pytest.fixture
def venue(make_user):
    """(monitor, token, session cookie of its owner) of a device monitor."""
    owner = make_user(role="monitor", username="venue-guard")
    monitor, token = services.monitor_create(owner=owner, name="Corner bar", kind=Monitor.Kind.DEVICE)
    session = Client()
    session.force_login(owner)
    return monitor, token, session.cookies[settings.SESSION_COOKIE_NAME].value


def microphone_file(tmp_path: Path, samples: np.ndarray) -> Path:
    """A WAV for the fake microphone."""
    # 48 kHz stereo, like a real capture device; the page downmixes and resamples it.
    from scipy import signal

    wide = signal.resample_poly(samples, 48000, media.FILE_RATE).astype(np.float32)
    return media.write_wav(tmp_path / "venue.wav", wide, rate=48000, channels=2)


@pytest.fixture
def chromium_browser():
    """A headless Chromium for pages that need no microphone (request database fixtures first:
    Playwright's sync API runs an event loop, and Django refuses ORM calls while one runs)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: `make test` installs it")
    with sync_playwright() as manager:
        browser = manager.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


def session_cookie(user) -> str:
    """A session key for `user`, to hand to a browser context."""
    session = Client()
    session.force_login(user)
    return session.cookies[settings.SESSION_COOKIE_NAME].value


def signed_in_page(browser, base_url: str, cookie: str | None, *, width: int, height: int = 844):
    """A new page of `width` CSS pixels, signed in with `cookie` (anonymous with None); a
    script error on it fails the test (see `page.errors`)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    if cookie:
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def horizontal_overflow_px(page) -> int:
    """How far the page scrolls sideways (0 when it fits its viewport)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
