"""The chart's geometry: bars stacked in plot units, three whole ticks, few enough date labels."""

import datetime as dt
from types import SimpleNamespace

import pytest

from recognition.reports.chart import MAX_DAY_LABELS, SHOWN_MONITORS, day_chart
from recognition.reports.selectors import DayCount

FIRST = dt.date(2026, 11, 2)


def _report(days: int, counts: list[DayCount]):
    sources = sorted({(c.source, c.source_name) for c in counts})
    return SimpleNamespace(
        days=counts,
        sources=lambda: [(s, n, sum(c.plays for c in counts if c.source == s)) for s, n in sources],
        filters=SimpleNamespace(days=lambda: [FIRST + dt.timedelta(days=n) for n in range(days)]),
    )


def test_bars_stack_in_plot_units_up_to_a_round_top():
    counts = [DayCount(FIRST, "listen", "Listens", 3), DayCount(FIRST, "api", "API", 4)]
    chart = day_chart(_report(2, counts))
    assert (chart.days, chart.top) == (2, 10)
    assert [(bar.y, bar.height) for bar in chart.bars] == [(6, 4), (3, 3)]  # the largest source lowest
    assert [(t.top_pct, t.label) for t in chart.ticks] == [(0, "10"), (50, "5"), (100, "0")]
    assert chart.gutter_ch == 2


@pytest.mark.parametrize(
    ("plays", "labels"), [(1, ["2", "1", "0"]), (4, ["5", "2.5", "0"]), (1234, ["2,000", "1,000", "0"])]
)
def test_every_tick_says_its_true_value(plays, labels):
    chart = day_chart(_report(1, [DayCount(FIRST, "api", "API", plays)]))
    assert [t.label for t in chart.ticks] == labels


@pytest.mark.parametrize("days", [1, 7, 8, 9, 14, 30, 31, 92, 366])
def test_at_most_eight_date_labels_and_half_of_them_on_a_phone(days):
    chart = day_chart(_report(days, []))
    assert 1 <= len(chart.labels) <= MAX_DAY_LABELS
    assert 1 <= sum(label.on_phone for label in chart.labels) <= MAX_DAY_LABELS // 2
    assert chart.labels[0].label == "02 Nov" and chart.labels[0].on_phone
    assert all(0 < label.left_pct < 100 for label in chart.labels)


def _monitors(count: int) -> list[DayCount]:
    """`count` monitors heard on two days, monitor n (n + 1) times a day, and listens."""
    counts = [DayCount(FIRST + dt.timedelta(days=d), "listen", "Listens", 50) for d in range(2)]
    for n in range(count):
        counts += [DayCount(FIRST + dt.timedelta(days=d), f"monitor:{n}", f"Radio {n:02d}", n + 1) for d in range(2)]
    return counts


@pytest.mark.parametrize("count", [8, 9, 200])
def test_monitors_past_the_seven_most_heard_are_one_other_series(count):
    counts = _monitors(count)
    chart = day_chart(_report(2, counts))
    names = [name for _colour, name, _plays in chart.legend]
    others = count - SHOWN_MONITORS
    assert names[0] == "Listens" and names[-1] == f"{others} other monitor{'s' if others > 1 else ''}"
    assert sorted(names[1:-1]) == sorted(f"Radio {n:02d}" for n in range(others, count))  # the 7 most heard
    assert len({colour for colour, _n, _p in chart.legend}) == len(chart.legend) == 1 + SHOWN_MONITORS + 1
    # Every day's stack and the report's total are what they were.
    assert sum(plays for _c, _n, plays in chart.legend) == sum(c.plays for c in counts)
    for day in range(2):
        bars = [bar.height for bar in chart.bars if bar.x == day + 0.1]
        assert len(bars) == 1 + SHOWN_MONITORS + 1
        assert sum(bars) == sum(c.plays for c in counts if c.day == FIRST + dt.timedelta(days=day))
    assert chart.bars[-1].title.endswith(f"from {others} other monitor{'s' if others > 1 else ''}")  # drawn last


def test_seven_monitors_are_drawn_apart():
    chart = day_chart(_report(2, _monitors(7)))
    assert len(chart.legend) == 8 and not any("other" in name for _c, name, _p in chart.legend)
