"""static/js/format.js in Chromium writes what portal/formatting.py writes."""

from __future__ import annotations

import json

import pytest

from portal.formatting import change
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

CHANGES = [
    (1.1, None), (0.95, None), (1.0, 1.0), (1.0, -2.0), (1.1, 1.65), (1 / 0.98, 12 * 0.0285), (1 / 1.01, -0.17),
    (1.004, 0.2), (1.0095, 0.495), (0.99, 0.5), (0.8, -3.86), (None, None), (None, 0.7), (1.25, None),
]  # fmt: skip


def test_a_change_of_speed_or_pitch_reads_the_same_in_the_browser(chromium):
    page = chromium.new_page()
    page.set_content("<!doctype html><title>format.js</title>")
    source = (ROOT / "static" / "js" / "format.js").read_text()
    page.add_script_tag(content=f"{source}\nwindow.formatChange = change;", type="module")
    page.wait_for_function("() => typeof window.formatChange === 'function'")
    written = page.evaluate(
        "cases => cases.map(([speed, pitch]) => window.formatChange(speed, pitch))", json.loads(json.dumps(CHANGES))
    )
    assert written == [change(speed, pitch) for speed, pitch in CHANGES]
    assert "played 10 % fast, pitch up 1.7 semitones" in written and "" in written
