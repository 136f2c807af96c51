"""bench/studies/room_reference.py: the references' room is reproducible, decays as asked, and is
not the room the clips are made in."""

import numpy as np
import pytest

from bench import distortions
from bench.studies import room_reference
from recognition.engine import fingerprint as fp

RATE = 8000


def decay_time(impulse: np.ndarray, rate: int, top_db: float = -5.0, bottom_db: float = -35.0) -> float:
    """RT60 from Schroeder's backward-integrated energy decay of the reverberant part, fitted
    between `top_db` and `bottom_db` (T30) and extrapolated to 60 dB."""
    energy = np.cumsum(impulse[1:][::-1] ** 2)[::-1]
    curve = 10 * np.log10(energy / energy[0])
    fitted = (curve <= top_db) & (curve >= bottom_db)
    slope = np.polyfit(np.flatnonzero(fitted) / rate, curve[fitted], 1)[0]
    return -60.0 / slope


def test_the_same_seed_makes_the_same_room_and_another_seed_another():
    first = room_reference.room_impulse(RATE, np.random.default_rng(7))
    again = room_reference.room_impulse(RATE, np.random.default_rng(7))
    other = room_reference.room_impulse(RATE, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(room_reference.family_impulse(), room_reference.family_impulse())


@pytest.mark.parametrize("rt60_s", [0.3, 0.6, 1.0])
def test_the_tail_decays_sixty_db_in_the_rt60_asked(rt60_s):
    for seed in range(3):
        impulse = room_reference.room_impulse(RATE, np.random.default_rng(seed), rt60_s=rt60_s)
        assert decay_time(impulse, RATE) == pytest.approx(rt60_s, rel=0.1)


@pytest.mark.parametrize("ratio_db", [0.0, 6.0])
def test_the_direct_path_is_as_far_above_the_reverberant_energy_as_asked(ratio_db):
    impulse = room_reference.room_impulse(RATE, np.random.default_rng(1), direct_to_reverberant_db=ratio_db)
    assert impulse[0] == 1.0
    assert 10 * np.log10(1.0 / np.sum(impulse[1:] ** 2)) == pytest.approx(ratio_db, abs=1e-6)


def test_early_reflections_stand_out_before_the_tail_builds_up():
    impulse = room_reference.room_impulse(RATE, np.random.default_rng(3))
    early = np.abs(impulse[1 : int(0.05 * RATE)])
    assert np.sum(early > 0.5 * early.max()) >= 3  # a few strong taps, not a noise floor
    assert np.max(np.abs(impulse[int(0.4 * RATE) :])) < 0.1 * early.max()


def test_a_family_row_the_track_holds_at_the_same_frame_is_not_stored_twice():
    own = fp.Fingerprints(np.array([5, 9, 9], np.int32), np.array([10.2, 3.0, 4.0], np.float32), 20)
    family = fp.Fingerprints(np.array([5, 5, 9, 7, 7], np.int32), np.array([9.8, 11.0, 3.4, 1.0, 1.2], np.float32), 20)
    added = room_reference.new_rows(family, own)
    assert list(zip(added.hashes.tolist(), np.rint(added.offsets).tolist(), strict=True)) == [(5, 11), (7, 1)]


def test_the_family_room_is_not_the_clips_room():
    """The clips' room (distortions.room) is a noise tail alone; the family's has strong early
    reflections standing out of it, and a longer decay."""
    unit = np.r_[1.0, np.zeros(RATE - 1)].astype(np.float32)
    clip_room = distortions.room(unit, RATE, np.random.default_rng(0)).astype(np.float64)
    clip_room /= clip_room[0]
    family = room_reference.family_impulse()

    def standing_out(impulse: np.ndarray) -> float:
        early = np.abs(impulse[int(0.003 * RATE) : int(0.05 * RATE)])
        return float(early.max() / np.median(early[early > 0]))

    assert standing_out(family) > 2 * standing_out(clip_room)
    assert decay_time(family, RATE) == pytest.approx(room_reference.FAMILY_RT60_S, rel=0.1)
    assert decay_time(clip_room, RATE) == pytest.approx(0.4, rel=0.1)
