"""The report's chart, plays per day by source, as geometry for a server-side SVG.

Drawn on the server (templates/reports/chart.html) rather than by a JavaScript library: a stacked
bar a day needs no interaction, the page stays readable without scripts, nothing is vendored
(docs/decisions.md, Server-side SVG charts). The SVG holds only the bars and the grid, in plot
units (a day wide, a play high) stretched to the plot's box; the axis labels are HTML text beside
it, placed by percentages, so they keep their size in CSS pixels on a phone instead of shrinking
with the drawing, and a phone shows every other date label. Monitors past the 7 most heard are
drawn as one "other monitors" series: a staff report can hold hundreds of monitors, whose colours
no one could tell apart (docs/decisions.md, SHOWN_MONITORS).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from recognition.reports.selectors import DayCount, PlaysReport, ReportSummary

__all__ = ["OTHER_MONITORS", "SHOWN_MONITORS", "Bar", "Chart", "DayLabel", "Tick", "day_chart", "fold_monitors"]

# At most this many date labels, and half of them on a phone: "02 Nov" at the page's label size
# is about 45 px wide, and a phone's plot about 300 px (a quarter of it between two labels).
MAX_DAY_LABELS = 8
# Colour-blind-safe (Okabe and Ito); the recognitions keep theirs, monitors take the rest in turn.
FIXED = {"listen": "#009E73", "upload": "#E69F00", "api": "#56B4E9"}
MONITOR_COLOURS = ["#0072B2", "#D55E00", "#CC79A7", "#332288", "#882255", "#117733", "#999933", "#44AA99"]
# Monitors drawn apart: seven colours after the three fixed ones stay distinguishable; the rest
# share one series (and a neutral grey).
SHOWN_MONITORS = 7
OTHER_MONITORS = "monitor:other"
OTHER_COLOUR = "#BBBBBB"


@dataclass(frozen=True)
class Bar:
    """One source's plays of one day, in plot units (x in days, y in plays from the top)."""

    x: float
    y: int
    width: float
    height: int
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    """A line and label of the plays axis: `y` in plot units, `top_pct` the same from the top."""

    y: float
    top_pct: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    """A label of the days axis, centred on its day at `left_pct` of the plot's width."""

    left_pct: float
    label: str
    on_phone: bool  # every other label: the ones a narrow screen keeps


@dataclass(frozen=True)
class Chart:
    days: int  # the plot's width in plot units
    top: int  # its height: the plays the plays axis ends at
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[DayLabel]
    legend: list[tuple[str, str, int]]  # (colour, source name, plays)

    @property
    def gutter_ch(self) -> int:
        """The plays axis's width in digits: its longest label's."""
        return max(len(tick.label) for tick in self.ticks)


def _nice_top(value: int) -> int:
    """The smallest of 2, 5, 10 × 10^n at or above `value` (2 at least: its half is a whole play)."""
    if value <= 2:
        return 2
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def fold_monitors(
    sources: list[tuple[str, str, int]], days: list[DayCount]
) -> tuple[list[tuple[str, str, int]], list[DayCount]]:
    """`sources` and `days` with the monitors past the SHOWN_MONITORS most heard as one source,
    OTHER_MONITORS, last; every day's plays and the report's total stay what they were."""
    monitors = sorted((entry for entry in sources if entry[0] not in FIXED), key=lambda e: (-e[2], e[1]))
    folded = {source for source, _n, _p in monitors[SHOWN_MONITORS:]}
    if not folded:
        return sources, days
    count = len(folded)
    name = f"{count} other monitor{'s' if count > 1 else ''}"
    kept = [entry for entry in sources if entry[0] not in folded]
    kept.append((OTHER_MONITORS, name, sum(plays for source, _n, plays in sources if source in folded)))
    others: dict = defaultdict(int)
    shown = []
    for day in days:
        if day.source in folded:
            others[day.day] += day.plays
        else:
            shown.append(day)
    shown += [DayCount(day, OTHER_MONITORS, name, plays) for day, plays in others.items()]
    return kept, sorted(shown, key=lambda d: (d.day, d.source))


def day_chart(report: PlaysReport | ReportSummary) -> Chart:
    """Stacked bars, one a day of the report's range, a colour per source (largest source lowest;
    the monitors past the most heard folded into one, drawn last)."""
    sources, counts = fold_monitors(report.sources(), report.days)
    colours, monitors = {OTHER_MONITORS: OTHER_COLOUR}, 0
    for source, _name, _plays in sources:
        if source in FIXED:
            colours[source] = FIXED[source]
        elif source != OTHER_MONITORS:
            colours[source] = MONITOR_COLOURS[monitors % len(MONITOR_COLOURS)]
            monitors += 1
    order = {source: i for i, (source, _n, _p) in enumerate(sources)}
    by_day: dict = defaultdict(list)
    for count in counts:
        by_day[count.day].append(count)
    days = report.filters.days()
    top = _nice_top(max((sum(c.plays for c in by_day[d]) for d in days), default=0))
    bars = []
    for i, day in enumerate(days):
        y = top
        for count in sorted(by_day[day], key=lambda c: order[c.source]):
            y -= count.plays
            bars.append(Bar(
                i + 0.1, y, 0.8, count.plays, colours[count.source],
                f"{day:%d %b %Y}: {count.plays:,} from {count.source_name}",
            ))  # fmt: skip
    ticks = [Tick(top - top * f, 100 - 100 * f, f"{top * f:,.1f}".removesuffix(".0")) for f in (1, 0.5, 0)]
    every = max(1, math.ceil(len(days) / MAX_DAY_LABELS))
    shown = [(i, d) for i, d in enumerate(days) if i % every == 0]
    labels = [
        DayLabel(round(100 * (i + 0.5) / len(days), 2), f"{d:%d %b}", k % 2 == 0) for k, (i, d) in enumerate(shown)
    ]
    legend = [(colours[s], name, plays) for s, name, plays in sources]
    return Chart(max(1, len(days)), top, bars, ticks, labels, legend)
