"""The chart's geometry: bars stacked in plot units, three whole ticks, few enough date labels."""

import datetime as dt
from types import SimpleNamespace

import pytest

from recognition.reports.chart import MAX_DAY_LABELS, day_chart
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
