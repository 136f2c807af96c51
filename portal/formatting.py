"""One way to show times, confidences, durations and changes of speed or pitch on every page, in
CSV and in the JSON pages read.

Pages use the template filters in `portal/templatetags/earshot.py`; browser code uses
`static/js/format.js`, which follows the same rules. The API keeps raw numbers (seconds, 0–1).
"""

from __future__ import annotations

import math

from recognition.engine.matching.changes import reported_change

__all__ = [
    "AXIS_STEPS_S",
    "CONFIDENCE_LABELS",
    "axis_ticks",
    "change",
    "clock",
    "confidence_label",
    "count",
    "duration",
    "percent",
    "spreadsheet_clock",
    "total_duration",
]

# Lower bounds of each label, highest first. The engine only answers a match it has calibrated
# against a false-match bound (docs/decisions.md), so even "fair" is a real match; the labels tell
# a reader how much of the clip agreed, not whether to trust it.
CONFIDENCE_LABELS: tuple[tuple[float, str], ...] = ((0.9, "very high"), (0.7, "high"), (0.4, "good"), (0.0, "fair"))

# Steps between labelled ticks of a time axis: round numbers on a clock, so every label of a 10 s
# clip or a 2 h video reads as a whole m:ss or h:mm:ss.
AXIS_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200)


def clock(seconds: float | None) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour: 5.4 → "0:05", 285.9 → "4:46", 3725 → "1:02:05"."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    sign = "−" if seconds < 0 else ""
    whole = round(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"


def percent(fraction: float | None) -> str:
    """A 0–1 fraction as a whole percentage: 1.0 → "100 %", 0.873 → "87 %", 0.004 → "<1 %"."""
    if fraction is None or not math.isfinite(fraction):
        return "—"
    value = max(0.0, min(1.0, fraction)) * 100
    if 0 < value < 1:
        return "<1 %"
    return f"{math.floor(value + 0.5):d} %"


def change(speed: float | None, pitch_semitones: float | None = None) -> str:
    """How a match's audio was changed from the track, when the engine's rule reports it
    (recognition/engine/matching/changes.py: from 1 % and half a semitone), else "": speed 1.1 →
    "played 10 % fast", 0.95 → "played 5 % slow"; pitch 1 → "pitch up 1 semitone", −1.65 →
    "pitch down 1.7 semitones"; both → "played 10 % fast, pitch up 1.7 semitones"."""
    reported = reported_change(speed, pitch_semitones)
    parts = []
    if reported.speed is not None and speed is not None:
        whole = math.floor(abs(speed - 1) * 100 + 0.5)
        parts.append(f"played {whole} % {'fast' if speed > 1 else 'slow'}")
    if reported.pitch_semitones is not None and pitch_semitones is not None:
        amount = f"{math.floor(abs(pitch_semitones) * 10 + 0.5) / 10:g}"
        direction = "up" if pitch_semitones > 0 else "down"
        parts.append(f"pitch {direction} {amount} semitone{'' if amount == '1' else 's'}")
    return ", ".join(parts)


def confidence_label(fraction: float | None) -> str:
    """A 0–1 confidence as a word a reader understands: "very high", "high", "good", "fair"."""
    if fraction is None or not math.isfinite(fraction):
        return "—"
    return next(label for floor, label in CONFIDENCE_LABELS if fraction >= floor)


def count(number: int | None) -> str:
    """A count of things with thousands separated: 0 → "0", 1234 → "1,234", 2500000 → "2,500,000"."""
    if number is None:
        return "—"
    return f"{int(number):,d}"


def duration(seconds: float | None) -> str:
    """A length of time for people: below a second in ms ("120 ms"), below a minute in s with one
    decimal below 10 s ("4.2 s", "19 s"), then as a clock ("4:46", "1:02:05")."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds == 0:
        return "0 s"  # nothing heard: "0 ms" would read as a measurement
    if seconds < 1:
        return f"{round(seconds * 1000):d} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 59.5:
        return f"{round(seconds):d} s"
    return clock(seconds)


def total_duration(seconds: float | None) -> str:
    """A sum of lengths (a report's time played): as `duration` below an hour, then hours and
    minutes, which stay readable for a month of plays: "2 h 04 min", "1,234 h 05 min"."""
    if seconds is None or not math.isfinite(seconds) or seconds < 3599.5:
        return duration(seconds)
    minutes = round(seconds / 60)
    return f"{minutes // 60:,} h {minutes % 60:02d} min"


def axis_ticks(duration_s: float, *, max_ticks: int = 6) -> list[float]:
    """Where to label a time axis from 0 to `duration_s`: multiples of the smallest step of
    AXIS_STEPS_S that gives at most `max_ticks` intervals (10 s → every 2 s, 1 h → every 10 min)."""
    if not math.isfinite(duration_s) or duration_s <= 0:
        return [0.0]
    intervals = max(1, max_ticks)
    step = next((s for s in AXIS_STEPS_S if duration_s / s <= intervals), None)
    if step is None:  # longer than any upload may be: whole multiples of the largest step
        step = AXIS_STEPS_S[-1] * math.ceil(duration_s / AXIS_STEPS_S[-1] / intervals)
    return [float(i * step) for i in range(int(duration_s // step) + 1)]


def spreadsheet_clock(seconds: float) -> str:
    """Seconds as h:mm:ss with the hours always written (285.9 → "0:04:46"): a spreadsheet reads
    "4:46" as 4 hours 46 minutes, "0:04:46" as the duration it is."""
    whole = round(max(0.0, seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
