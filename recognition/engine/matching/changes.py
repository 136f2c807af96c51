"""What a match says about how the audio was changed from the track: the one rule for when a
speed or pitch change is reported (every interface shows what `reported_change` keeps).

A match estimates the clip's `speed` (its time factor: 1.1 = played 10 % fast) and
`pitch_semitones` (0 = as recorded). Retries land on a grid of speeds (1 / 0.99 = 1.0101,
1 / 1.01 = 0.9901) and a long input's drift is measured, so a clip heard as recorded can
come out a fraction of a percent off: a change is reported only from MIN_SPEED_CHANGE and
MIN_PITCH_SEMITONES, compared as they are shown (speed to a tenth of a percent, pitch to a
hundredth of a semitone), so 0.9901 is "1 % slow" like 1.0101 is "1 % fast".
static/js/format.js follows the same rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MIN_PITCH_SEMITONES", "MIN_SPEED_CHANGE", "Change", "reported_change"]

# Smallest change reported: 1 % of speed (what turntables, radio edits and some players run off
# by; below it, the hashes' own tolerance matches the clip as heard), half a semitone of pitch.
MIN_SPEED_CHANGE = 0.01
MIN_PITCH_SEMITONES = 0.5


@dataclass(frozen=True)
class Change:
    """A reported change: `speed` (time factor, to 3 decimals) and `pitch_semitones` (to 2),
    each None when the audio is as recorded within the rule."""

    speed: float | None = None
    pitch_semitones: float | None = None

    def __bool__(self) -> bool:
        return self.speed is not None or self.pitch_semitones is not None


def _at_least(value: float, minimum: float, steps: int) -> bool:
    """Whether |value| is `minimum` or more once rounded half up to 1 / `steps`."""
    return math.floor(abs(value) * steps + 0.5) >= round(minimum * steps)


def reported_change(speed: float | None, pitch_semitones: float | None) -> Change:
    """The change a match reports: `speed` when it is MIN_SPEED_CHANGE or more away from 1,
    `pitch_semitones` when it is MIN_PITCH_SEMITONES or more away from 0; None otherwise (and
    for an unknown or non-finite estimate)."""
    reported_speed = None
    if speed is not None and math.isfinite(speed) and speed > 0 and _at_least(speed - 1, MIN_SPEED_CHANGE, 1000):
        reported_speed = round(float(speed), 3)
    reported_pitch = None
    if (
        pitch_semitones is not None
        and math.isfinite(pitch_semitones)
        and _at_least(pitch_semitones, MIN_PITCH_SEMITONES, 100)
    ):
        reported_pitch = round(float(pitch_semitones), 2)
    return Change(reported_speed, reported_pitch)
