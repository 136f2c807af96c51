"""The one format every page uses (portal/formatting.py), and the template filters around it."""

import pytest
from django.template import Context, Template

from portal.formatting import (
    axis_ticks,
    change,
    clock,
    confidence_label,
    count,
    duration,
    percent,
    spreadsheet_clock,
    total_duration,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0:00"),
        (5.4, "0:05"),
        (59.6, "1:00"),
        (285.9, "4:46"),
        (3599.4, "59:59"),
        (3725, "1:02:05"),
        (-3, "−0:03"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_clock_is_m_ss_and_h_mm_ss_past_an_hour(seconds, text):
    assert clock(seconds) == text


@pytest.mark.parametrize(
    ("fraction", "text"), [(1.0, "100 %"), (0.873, "87 %"), (0.005, "<1 %"), (0, "0 %"), (1.7, "100 %"), (None, "—")]
)
def test_percent_is_whole_and_clamped(fraction, text):
    assert percent(fraction) == text


@pytest.mark.parametrize(
    ("fraction", "label"), [(1.0, "very high"), (0.9, "very high"), (0.75, "high"), (0.5, "good"), (0.1, "fair")]
)
def test_confidence_label(fraction, label):
    assert confidence_label(fraction) == label


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.12, "120 ms"), (4.24, "4.2 s"), (19.8, "20 s"), (285.9, "4:46"), (7325, "2:02:05")]
)
def test_duration_picks_a_unit_people_read(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("number", "text"), [(0, "0"), (999, "999"), (1234, "1,234"), (2_500_000, "2,500,000"), (None, "—")]
)
def test_count_separates_thousands(number, text):
    assert count(number) == text


def test_template_filters_render_the_same_text():
    html = Template(
        "{% load earshot %}{{ s|clock }} {{ c|percent }} {{ c|confidence_label }} {{ d|duration }} {{ ms|ms_duration }}"
    ).render(Context({"s": 285.9, "c": 0.873, "d": 4.24, "ms": 19813}))
    assert html == "4:46 87 % high 4.2 s 20 s"
    assert Template("{% load earshot %}{{ n|count }}").render(Context({"n": 12345})) == "12,345"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (185, "3:05"), (3599, "59:59"), (7440, "2 h 04 min"), (4_443_900, "1,234 h 25 min"), (None, "—")],
)
def test_total_duration_reads_as_hours_and_minutes_past_an_hour(seconds, text):
    assert total_duration(seconds) == text


def test_nothing_heard_is_zero_seconds_not_zero_milliseconds():
    assert duration(0) == "0 s" and duration(0.004) == "4 ms"


@pytest.mark.parametrize(
    ("duration_s", "ticks"),
    [
        (10, [0, 2, 4, 6, 8, 10]),
        (67, [0, 15, 30, 45, 60]),
        (174, [0, 30, 60, 90, 120, 150]),
        (3600, [0, 600, 1200, 1800, 2400, 3000, 3600]),
        (7200, [0, 1200, 2400, 3600, 4800, 6000, 7200]),
        (0, [0]),
    ],
)
def test_axis_ticks_fall_on_round_clock_times(duration_s, ticks):
    assert axis_ticks(duration_s) == ticks
    assert len(axis_ticks(duration_s, max_ticks=3)) <= 4


def test_axis_ticks_past_the_largest_step_stay_few():
    ticks = axis_ticks(50 * 3600, max_ticks=6)
    assert len(ticks) <= 7 and all(t % 7200 == 0 for t in ticks)


def test_a_spreadsheet_clock_always_writes_hours():
    assert spreadsheet_clock(285.9) == "0:04:46" and spreadsheet_clock(3725) == "1:02:05"


@pytest.mark.parametrize(
    ("speed", "pitch", "text"),
    [
        (1.1, None, "played 10 % fast"),
        (0.95, 0.0, "played 5 % slow"),
        (1 / 1.01, None, "played 1 % slow"),  # 0.9901: 1 % as shown
        (1.0, 1.0, "pitch up 1 semitone"),
        (1.0, -2.0, "pitch down 2 semitones"),
        (1.1, 1.65, "played 10 % fast, pitch up 1.7 semitones"),
        (1.0204, 0.35, "played 2 % fast"),  # a tape's third of a semitone is not reported
        (1.004, 0.2, ""),
        (None, None, ""),
    ],
)
def test_a_change_of_speed_or_pitch_is_said_only_when_the_engine_reports_it(speed, pitch, text):
    assert change(speed, pitch) == text


def test_the_change_filter_reads_segments_matches_and_detections():
    class Detection:
        speed = 0.9

    html = Template("{% load earshot %}[{{ a|change }}][{{ b|change }}][{{ c|change }}][{{ d|change }}]").render(
        Context({"a": {"speed": 1.02, "pitch_semitones": None}, "b": {"start_s": 3.0}, "c": Detection(), "d": None})
    )
    assert html == "[played 2 % fast][][played 10 % slow][]"
