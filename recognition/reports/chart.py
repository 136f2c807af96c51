"""The report's chart, plays per day by source, as geometry for a server-side SVG.

Drawn on the server (templates/reports/chart.html) rather than by a JavaScript library: a stacked
bar a day needs no interaction, the page stays readable without scripts, nothing is vendored
(docs/decisions.md, Server-side SVG charts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from recognition.reports.selectors import PlaysReport

__all__ = ["Bar", "Chart", "day_chart"]

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26
# Colour-blind-safe (Okabe and Ito); the recognitions keep theirs, monitors take the rest in turn.
FIXED = {"listen": "#009E73", "upload": "#E69F00", "api": "#56B4E9"}
MONITOR_COLOURS = ["#0072B2", "#D55E00", "#CC79A7", "#332288", "#882255", "#117733", "#999933", "#44AA99"]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (y, label) of the plays axis
    labels: list[tuple[float, str]]  # (x, label) of the days axis
    legend: list[tuple[str, str, int]]  # (colour, source name, plays)
    baseline: float
    left: int


def _nice_top(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n at or above `value`."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def day_chart(report: PlaysReport) -> Chart:
    """Stacked bars, one a day of the report's range, a colour per source (largest source lowest)."""
    sources = report.sources()
    colours, monitors = {}, 0
    for source, _name, _plays in sources:
        if source in FIXED:
            colours[source] = FIXED[source]
        else:
            colours[source] = MONITOR_COLOURS[monitors % len(MONITOR_COLOURS)]
            monitors += 1
    order = {source: i for i, (source, _n, _p) in enumerate(sources)}
    by_day: dict = defaultdict(list)
    for count in report.days:
        by_day[count.day].append(count)
    days = report.filters.days()
    top = _nice_top(max((sum(c.plays for c in by_day[d]) for d in days), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        y = float(TOP + plot_h)
        for count in sorted(by_day[day], key=lambda c: order[c.source]):
            height = plot_h * count.plays / top
            y -= height
            bars.append(Bar(
                round(LEFT + i * step + step * 0.1, 2), round(y, 2), round(step * 0.8, 2), round(height, 2),
                colours[count.source], f"{day:%d %b %Y}: {count.plays:,} from {count.source_name}",
            ))  # fmt: skip
    ticks = [(round(TOP + plot_h - plot_h * f, 2), f"{round(top * f):,}") for f in (0, 0.5, 1)]
    every = max(1, math.ceil(len(days) / 8))
    labels = [(round(LEFT + (i + 0.5) * step, 2), f"{d:%d %b}") for i, d in enumerate(days) if i % every == 0]
    legend = [(colours[s], name, plays) for s, name, plays in sources]
    return Chart(WIDTH, HEIGHT, bars, ticks, labels, legend, float(TOP + plot_h), LEFT)
