"""Headless Chromium driven by Playwright, its microphone fed from a WAV file."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_with_microphone(tmp_path):
    """Launch Chromium whose microphone plays a given WAV file (Chromium's fake capture device)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: `make test` installs it")
    manager = sync_playwright().start()
    launched = []

    def launch(wav: Path):
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
                "--use-fake-ui-for-media-stream",
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
