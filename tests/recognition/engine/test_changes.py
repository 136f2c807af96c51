"""When a match reports how its audio was changed (recognition/engine/matching/changes.py)."""

import math

import pytest

from recognition.engine import Change, reported_change
from recognition.engine.matching import MIN_PITCH_SEMITONES, MIN_SPEED_CHANGE
from tests import media

RATE = media.ENGINE_RATE


@pytest.mark.parametrize(
    ("speed", "reported"),
    [
        (1.0, None),
        (1.009, None),
        (0.991, None),
        (1 / 0.99, 1.01),  # the +1 % retry
        (1 / 1.01, 0.99),  # the -1 % retry: 0.9901, 1 % slow as shown
        (1 / 0.98, 1.02),
        (1.1, 1.1),
        (0.8, 0.8),
        (None, None),
        (math.nan, None),
        (0.0, None),
    ],
)
def test_a_speed_is_reported_from_one_percent_off(speed, reported):
    assert reported_change(speed, 0.0).speed == reported


@pytest.mark.parametrize(
    ("pitch", "reported"),
    [(0.0, None), (0.35, None), (-0.49, None), (0.5, 0.5), (-0.5, -0.5), (1.651, 1.65), (-2.0, -2.0), (None, None)],
)
def test_a_pitch_is_reported_from_half_a_semitone(pitch, reported):
    assert reported_change(1.0, pitch).pitch_semitones == reported


def test_the_rule_is_one_percent_and_half_a_semitone_and_an_unchanged_match_is_falsy():
    assert (MIN_SPEED_CHANGE, MIN_PITCH_SEMITONES) == (0.01, 0.5)
    assert not reported_change(1.004, 0.2) and reported_change(1.004, 0.2) == Change()
    assert reported_change(1.1, 1.65) == Change(1.1, 1.65) and reported_change(1.0, -1.0)


def test_a_clip_played_two_percent_fast_reports_its_speed_and_an_unchanged_one_nothing(engine, songs):
    clip = songs[4][10 * RATE : 18 * RATE]
    fast = engine.identify(media.played_faster(clip, 1.02))
    assert fast is not None and fast.track_id == 4
    assert fast.speed == pytest.approx(1.02, rel=0.005)
    # A tape speed moves the pitch too, by a third of a semitone here: under the half reported.
    assert fast.change.speed == pytest.approx(1.02, rel=0.005) and fast.change.pitch_semitones is None
    slow = engine.identify(media.played_faster(clip, 0.98))
    assert slow is not None and slow.change.speed == pytest.approx(0.98, rel=0.005)
    heard = engine.identify(clip)
    assert heard is not None and heard.track_id == 4 and heard.change == Change() and not heard.change
