"""Frame sketches alone and the check on them (recognition/engine/sketch/), on generated signals."""

import numpy as np
import pytest
from scipy import stats

from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import SKETCH_SHARE
from tests import media

RATE = media.ENGINE_RATE
SEEDS = media.SONG_SEEDS


@pytest.mark.parametrize("chunk", [300, 8000 * 3 + 17])
def test_streaming_gives_exactly_the_whole_sketch(songs, chunk):
    whole = sk.sketch(songs[2])
    stream = sk.StreamingSketch()
    parts = [stream.push(songs[2][i : i + chunk]) for i in range(0, songs[2].size, chunk)]
    assert np.array_equal(np.concatenate(parts), whole)
    assert whole.size == fp.spectrogram_db(songs[2]).shape[0]  # the fingerprint's frame grid


def test_a_clip_agrees_with_its_source_at_its_offset_and_not_with_other_music(songs):
    start_s = 21.37
    clip = songs[3][int(start_s * RATE) : int((start_s + 1) * RATE)]
    query = sk.query_sketch(clip)
    own = sk.sketch(songs[3])
    every_offset = np.lib.stride_tricks.sliding_window_view(own, query.n_frames + 3)
    found = sk.align(query, every_offset)
    best = int(np.argmin(found.log10_chance))
    true_frame = start_s * fp.REFERENCE.frames_per_second
    assert abs(best + found.offset_frames[best] - true_frame) <= 0.25
    assert found.errors[best] / found.bits[best] < 0.15
    # Another song's best of its ~7,000 alignments is as likely as chance makes the best of 7,000.
    for seed in (1, 5, 8):
        other = sk.align(query, np.lib.stride_tricks.sliding_window_view(sk.sketch(songs[seed]), query.n_frames + 3))
        assert other.log10_chance.min() > -6 > found.log10_chance[best] + 6, (seed, other.log10_chance.min())


def test_silence_noise_below_16_bit_resolution_and_empty_bands_are_never_compared():
    seconds = np.arange(3 * RATE) / RATE
    silence = np.zeros(3 * RATE, np.float32)
    dither = np.random.default_rng(1).standard_normal(3 * RATE).astype(np.float32) * 2**-16  # half an LSB
    bass_only = (0.5 * np.sin(2 * np.pi * 110 * seconds)).astype(np.float32)  # nothing in 300-2000 Hz
    for samples in (silence, dither, bass_only):
        assert not sk.sketch(samples).any()
        assert not sk.query_sketch(samples).usable
    # Two of them agree perfectly bit for bit, and still no bit is counted.
    found = sk.align(sk.query_sketch(silence), np.zeros((1, 100), np.uint16))
    assert found.bits[0] == 0 and found.log10_chance[0] == 0


def test_the_chance_level_is_a_binomial_tail_on_half_the_bits():
    bits = np.array([160, 160, 480, 480, 480])
    errors = np.array([0, 20, 100, 240, 300])
    expected = stats.binom.logcdf(errors // 2, bits // 2, 0.5) / np.log(10)
    expected[3:] = 0.0  # at or past chance: no evidence
    assert sk.log10_chance(errors, bits) == pytest.approx(expected, abs=1e-6)
    # Far past what floating point holds, the Chernoff bound takes over, never below the tail.
    huge = sk.log10_chance(np.array([1000]), np.array([200_000]))[0]
    assert np.isfinite(huge) and -100_000 * np.log10(2) <= huge < -20_000
    assert sk.log10_chance(np.array([5]), np.array([0]))[0] == 0


def test_a_decision_on_sketches_counts_every_offset_track_shift_and_look(engine, songs):
    start_s = 12.5
    clip = songs[4][int(start_s * RATE) : int((start_s + 2) * RATE)]
    query = sk.query_sketch(clip)
    prints = fp.fingerprint(clip, engine.params)
    votes = engine.votes(prints)
    looks = 7
    match = engine.check_sketches(
        query, votes, pair_ranking=None, n_frames=prints.n_frames, looks=looks, tracks=len(SEEDS)
    )
    assert match is not None and match.track_id == 4
    first = int(np.floor(match.offset_frames)) - 1
    alone = sk.align(query, engine.index.sketch_slices(np.array([4]), np.array([first]), query.n_frames + 3))
    positions = engine.index.track_frames(np.array([4]))[0] + prints.n_frames
    comparisons = len(SEEDS) * looks * sk.SKETCH.query_shifts / SKETCH_SHARE
    assert match.log10_p == pytest.approx(alone.log10_chance[0] + np.log10(positions * comparisons))
