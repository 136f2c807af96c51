"""A match's speed measured from how its votes drift (recognition/engine/matching/drift.py)."""

import numpy as np
import pytest

from recognition.engine import Identifier, matching
from recognition.engine.matching import drift
from tests import media

RATE = media.ENGINE_RATE


def _votes(slope: float, *, n: int, frames: int, chance: int, seed: int, first: float = 0.0) -> matching.Hits:
    """Votes of track 1 on the line 300 + slope * q over query frames [first, frames), their
    stored offsets whole frames, and `chance` votes scattered near it and in track 2."""
    rng = np.random.default_rng(seed)
    q = np.sort(rng.uniform(first, frames, n)).astype(np.float32)
    db = np.rint(300 + q * (1 + slope))
    q_chance = rng.uniform(0, frames, chance).astype(np.float32)
    db_chance = np.rint(300 + q_chance + rng.uniform(-8, 8, chance))
    return matching.Hits(
        hashes=np.arange(n + 2 * chance, dtype=np.int32),
        track_ids=np.r_[np.ones(n + chance, np.int64), np.full(chance, 2, np.int64)],
        db_offsets=np.r_[db, db_chance, db_chance].astype(np.int32),
        query_offsets=np.r_[q, q_chance, q_chance].astype(np.float32),
    )


def _match(speed: float = 1.0) -> matching.Match:
    return matching.Match(1, 300.0, 40, -20.0, 10, 150, 2, speed=speed)


@pytest.mark.parametrize("slope", [0.0, 0.02, -0.025, 0.012])
def test_the_slope_of_the_votes_is_the_speed_despite_chance_votes_near_it(slope):
    hits = _votes(slope, n=120, frames=250, chance=40, seed=3)
    measured = matching.measured(_match(), 250, hits)
    assert measured.speed == pytest.approx(1 + slope, abs=0.002)
    # Which track, where and how sure are the decision's; the aligned stretch is the line's.
    assert (measured.track_id, measured.offset_frames, measured.log10_p) == (1, 300.0, -20.0)
    assert measured.first_frame <= 10 and measured.last_frame >= 240


def test_a_retry_multiplies_its_factors_speed_by_the_drift_left():
    hits = _votes(0.009, n=120, frames=250, chance=0, seed=4)
    assert matching.measured(_match(speed=1.04), 250, hits).speed == pytest.approx(1.04 * 1.009, abs=0.002)


def test_too_few_votes_or_too_short_a_stretch_measure_nothing():
    few = _votes(0.02, n=drift.MIN_DRIFT_VOTES - 1, frames=250, chance=0, seed=5)
    short = _votes(0.02, n=100, frames=250, chance=0, seed=6, first=250 * (1 - drift.MIN_DRIFT_SPAN) + 10)
    scattered = _votes(0.02, n=0, frames=250, chance=150, seed=7)
    for hits in (few, short, scattered):
        assert matching.measured(_match(), 250, hits) == _match()


def test_a_clip_two_percent_fast_that_matches_as_heard_reports_its_speed(index, songs):
    """15 s of a song 2 % fast still match as heard (no retry): the votes drift 2 % of the clip's
    frames across it, and the match says so."""
    clip = media.played_faster(songs[4][10 * RATE : 26 * RATE], 1.02)[: 15 * RATE]
    heard = Identifier(index, speed_variants=(), smoothed_params=None).identify(clip)
    assert heard is not None and heard.track_id == 4
    assert heard.speed == pytest.approx(1.02, abs=0.005) and heard.change.speed == pytest.approx(1.02, abs=0.005)
    assert heard.pitch_semitones == 0.0  # as heard, a tempo and a tape speed look alike


def test_a_retry_next_to_the_clips_speed_reports_the_speed_its_votes_drift_at(index, songs):
    """A clip 10 % fast found by a retry at 1.09 reports 1.1, not the factor's 1.09."""
    clip = media.played_faster(songs[5][12 * RATE : 21 * RATE], 1.1)[: 6 * RATE]
    match = Identifier(index, speed_variants=(1 / 1.09,)).identify(clip)
    assert match is not None and match.track_id == 5
    assert match.speed == pytest.approx(1.1, abs=0.003)
