"""The report page in headless Chromium: the chart, the top tracks and the links behind a row."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import Role
from catalog.models import Artist
from recognition.models import Play, Recognition
from recognition.monitors.models import Detection, Monitor
from tests.e2e.conftest import CHROMIUM
from tests.factories import TrackFactory, UserFactory

pytestmark = pytest.mark.browser
FIRST_DAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
DAYS = 14


@pytest.fixture
def heard_catalog(transactional_db):
    """A rights holder's four tracks heard over two weeks by two stations, uploads, the API and
    listeners; (session cookie of the holder, the holder's first track)."""
    holder = UserFactory(role=Role.RIGHTS_HOLDER, username="harbour-records")
    listener = UserFactory(role=Role.LISTENER, username="listener-5521")
    guard = UserFactory(role=Role.MONITOR, username="guard-7731")
    artist = Artist.objects.create(owner=holder, name="The Examples")
    tracks = [TrackFactory(owner=holder, title=t) for t in ("Harbour Lights", "Copper Sky", "Tidewater", "Low Sun")]
    for track in tracks:
        track.artists.add(artist)
    stations = [
        Monitor.objects.create(owner=guard, name=name, source_url=f"https://secret-7731.example/{i}")
        for i, name in enumerate(("Radio One", "Club Nord"))
    ]
    rng = random.Random(35)
    for day in range(DAYS):
        for _ in range(rng.randint(3, 9)):
            track = tracks[min(3, int(rng.random() ** 2 * 4))]
            at = FIRST_DAY + dt.timedelta(days=day, minutes=rng.randint(0, 1400))
            Detection.objects.create(
                monitor=rng.choice(stations), track=track, title=track.title, started_at=at,
                ended_at=at + dt.timedelta(seconds=rng.randint(60, 240)), offset_start_s=0, offset_end_s=60,
                confidence=0.999, open=False,
            )  # fmt: skip
        for source in rng.sample(["microphone", "upload", "api"], k=rng.randint(1, 3)):
            track = tracks[rng.randint(0, 3)]
            job = Recognition.objects.create(user=listener, source=source, status="done", track=track)
            Play.objects.create(
                recognition=job, track=track, source=source, played_s=rng.randint(5, 90),
                heard_at=FIRST_DAY + dt.timedelta(days=day, hours=rng.randint(8, 22)),
            )  # fmt: skip
    session = Client()
    session.force_login(holder)
    return session.cookies[settings.SESSION_COOKIE_NAME].value, tracks[0]


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required: `make test` installs it")
    with sync_playwright() as manager:
        browser = manager.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


def test_the_report_page_draws_the_month_and_links_each_row(heard_catalog, daphne_server, chromium):
    cookie, first_track = heard_catalog
    context = chromium.new_context(viewport={"width": 1000, "height": 1180})
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": daphne_server}])
    page = context.new_page()
    page.goto(f"{daphne_server}/")
    page.get_by_role("link", name="Reports").click()
    page.get_by_role("heading", name="Where my music was heard").wait_for()
    page.get_by_label("From").fill("2026-11-02")
    page.get_by_label("To").fill("2026-11-15")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/reports/?from=2026-11-02&to=2026-11-15*")

    bars = page.get_by_test_id("chart-bar")
    assert bars.count() >= DAYS  # at least one source heard every day
    box = page.get_by_test_id("report-chart").bounding_box()
    assert box and box["width"] > 600 and box["height"] > 150  # drawn, not collapsed
    assert _label_problems(page, 1000) == []
    legend = page.get_by_test_id("chart-legend").inner_text()
    assert "Radio One" in legend and "Club Nord" in legend
    top = page.get_by_test_id("top-track")
    assert top.count() == 4 and top.first.locator("[data-field=title]").inner_text() == "Harbour Lights"
    text = page.content()
    assert "guard-7731" not in text and "listener-5521" not in text and "secret-7731" not in text
    station = page.locator("[data-testid=report-row][data-source^='monitor:'] [data-testid=report-row-link]").first
    assert station.get_attribute("href").startswith(f"/detections/?track={first_track.pk}&monitor=")
    # EARSHOT_SCREENSHOT_REPORTS=path keeps a picture of the page (docs/reports.md shows it).
    if os.environ.get("EARSHOT_SCREENSHOT_REPORTS"):
        page.screenshot(path=os.environ["EARSHOT_SCREENSHOT_REPORTS"], full_page=False)

    page.locator("[data-testid=report-row][data-source=upload] [data-testid=report-row-link]").first.click()
    page.get_by_test_id("plays").wait_for()
    assert page.get_by_test_id("play").count() >= 1
    assert "listener-5521" not in page.content()
    page.get_by_test_id("plays").page.get_by_role("link", name="Where my music was heard").click()
    page.get_by_test_id("report-chart").wait_for()
    context.close()


# The smallest text a phone's own interface uses (iOS's "caption 2" is 11 pt); the chart's labels
# rendered at 5 px on a 390 px screen when they were SVG text scaled with the drawing.
MIN_LABEL_PX = 11

# Each visible label of the chart's axes: its text, its size as rendered (an SVG <text> is scaled
# by its viewBox, which getComputedStyle does not say) and its box on the screen.
_LABELS = """chart => [...chart.querySelectorAll('.tick')].filter(e => e.getClientRects().length).map(e => {
  const ctm = e.getScreenCTM ? e.getScreenCTM() : null;
  const box = e.getBoundingClientRect();
  const px = parseFloat(getComputedStyle(e).fontSize) * (ctm ? Math.hypot(ctm.a, ctm.b) : 1);
  return {text: e.textContent.trim(), px, left: box.left, right: box.right, top: box.top, bottom: box.bottom};
})"""


def _label_problems(page, width: int) -> list[str]:
    """What makes the chart's axis labels unreadable at this width: too small, overlapping, cut off."""
    labels = page.get_by_test_id("report-chart").evaluate(_LABELS)
    problems = [f"only {len(labels)} labels"] if len(labels) < 5 else []  # 3 on the plays axis, 2 days at least
    problems += [f"{label['text']!r} is {label['px']:.1f} px" for label in labels if label["px"] < MIN_LABEL_PX]
    problems += [f"{label['text']!r} is cut off" for label in labels if label["left"] < 0 or label["right"] > width]
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            apart = (
                a["right"] + 2 <= b["left"]
                or b["right"] + 2 <= a["left"]
                or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"]
            )
            if not apart:
                problems.append(f"{a['text']!r} overlaps {b['text']!r}")
    return problems


def test_the_chart_labels_are_readable_on_a_phone(heard_catalog, daphne_server, chromium):
    cookie, _track = heard_catalog
    context = chromium.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True)
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": daphne_server}])
    page = context.new_page()
    # Two weeks (a label every other day), eight days (a label a day) and a whole year.
    for first, last in (("2026-11-02", "2026-11-15"), ("2026-11-10", "2026-11-17"), ("2026-01-01", "2026-12-31")):
        page.goto(f"{daphne_server}/reports/?from={first}&to={last}")
        assert _label_problems(page, 390) == [], (first, last)
        box = page.get_by_test_id("report-chart").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150, (first, last)  # not a flat strip
        assert page.get_by_test_id("chart-bar").count() >= 1
    context.close()
