"""Landmark fingerprints (recognition/engine/fingerprint/): peaks, hashes, settings, streaming.

On generated signals, and on Debian's drascula music where only real music shows the effect.
"""

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from catalog.demo import demo_music_files
from recognition.engine import audio
from recognition.engine import fingerprint as fp
from tests import media

RATE = media.ENGINE_RATE


def test_fingerprint_is_deterministic(songs):
    a, b = fp.fingerprint(songs[1]), fp.fingerprint(songs[1].copy())
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.offsets, b.offsets)


def test_reference_density_is_what_storage_is_sized_for(songs):
    prints = [fp.fingerprint(x) for x in songs.values()]
    seconds = [x.size / RATE for x in songs.values()]
    pairs = np.mean([len(p.split()[0]) / s for p, s in zip(prints, seconds, strict=True)])
    triplets = np.mean([len(p.split()[1]) / s for p, s in zip(prints, seconds, strict=True)])
    assert 5 < pairs < 25
    # One triplet per anchor that has two targets: never more than half the pairs.
    assert 0.25 * pairs < triplets <= 0.5 * pairs


PAIRS_ONLY_QUERY = replace(fp.QUERY, triplet_fan_out=None)


def test_peaks_timed_at_their_maximum_keep_the_stored_hashes(songs):
    """What references store: the hashes and whole-frame offsets of the engine before
    `peak_time` existed (commit 607cdab), which every stored index holds."""
    digest = hashlib.sha256()
    for seed in (1, 2, 3):
        for params in (fp.REFERENCE, fp.QUERY):
            prints = fp.fingerprint(songs[seed], params)
            digest.update(prints.hashes.astype("<i4").tobytes())
            digest.update(np.rint(prints.offsets).astype("<i4").tobytes())
    assert fp.REFERENCE.peak_time == "maximum"
    assert digest.hexdigest() == "58a68087a2a99f7a693723a11f3f54ab1384cbaacc5eed2d3609c8e55b15c4b8"


def test_a_peaks_onset_stays_where_a_room_moves_its_maximum_later():
    """A decaying 440 Hz note (bin 28) and the same note in a room (a reverberant tail as loud as
    the direct sound, RT60 0.4 s): the tail moves the maximum more than a frame later, its onset not."""
    t = np.arange(int(0.4 * RATE)) / RATE
    dry = np.zeros(2 * RATE, np.float32)
    dry[int(0.3 * RATE) : int(0.7 * RATE)] = 0.5 * np.sin(2 * np.pi * 440.0 * t) * np.exp(-t / 0.3)
    tail = np.random.default_rng(0).standard_normal(int(0.6 * RATE)) * np.exp(
        -6.91 * np.arange(int(0.6 * RATE)) / RATE / 0.4
    )
    tail[:40] = 0.0
    tail /= np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    wet = np.convolve(dry, tail)[: dry.size].astype(np.float32)

    def note_frame(samples, peak_time):
        frames, bins, _, _ = fp.constellation(samples, replace(fp.QUERY, shifts=1, peak_time=peak_time)).peaks[0]
        return float(frames[np.abs(bins - 28.2) < 1][0])

    assert note_frame(wet, "maximum") - note_frame(dry, "maximum") > 1.0
    for onset in ("rise", "half-rise"):
        assert abs(note_frame(wet, onset) - note_frame(dry, onset)) < 0.25
        assert note_frame(dry, onset) < note_frame(dry, "maximum")


def test_an_unknown_peak_time_is_refused():
    with pytest.raises(ValueError, match="peak_time"):
        replace(fp.REFERENCE, peak_time="loudest")


@pytest.mark.parametrize(
    "params",
    [
        fp.QUERY,
        fp.REFERENCE,
        PAIRS_ONLY_QUERY,
        fp.QUERY_SMOOTHED,
        replace(fp.QUERY, peak_time="rise"),
        replace(fp.REFERENCE, peak_time="half-rise"),
    ],
    ids=["query", "reference", "pairs-only-query", "smoothed-query", "query-rise", "reference-half-rise"],
)
@pytest.mark.parametrize("chunk", [2000, 8000 * 3 + 17])
def test_streaming_gives_exactly_the_batch_fingerprint(songs, params, chunk):
    x = songs[2][: 8000 * 25]
    batch = fp.fingerprint(x, params)
    stream = fp.StreamingFingerprinter(params)
    parts = [stream.push(x[i : i + chunk]) for i in range(0, x.size, chunk)] + [stream.finish()]
    streamed = fp.merge_fingerprints(parts, stream.n_frames)
    assert np.array_equal(streamed.hashes, batch.hashes)
    assert np.allclose(streamed.offsets, batch.offsets)
    assert stream.n_frames == batch.n_frames


def test_a_stream_of_peaks_alone_keeps_the_batch_peaks_and_gives_no_hash(songs):
    """A long input's denser peaks are found as it is decoded, hashed only where needed."""
    x = songs[5][: 8000 * 20]
    batch = fp.constellation(x, fp.QUERY_DENSE)
    stream = fp.StreamingFingerprinter(fp.QUERY_DENSE, hashes=False)
    emitted = sum(len(stream.push(x[i : i + 7000])) for i in range(0, x.size, 7000)) + len(stream.finish())
    assert emitted == 0
    for (frames, bins, wide), (batch_frames, batch_bins, shift, batch_wide) in zip(
        stream.take_peaks(), batch.peaks, strict=True
    ):
        assert np.allclose(frames, batch_frames + shift) and np.allclose(bins, batch_bins)
        assert wide.all() and batch_wide.all()  # every dense peak may make triplets


def test_a_streamed_query_emits_triplets_as_soon_as_its_pairs(songs):
    stream = fp.StreamingFingerprinter(fp.QUERY)
    pairs, triplets = stream.push(songs[3][: 4 * RATE]).split()
    # A triplet waits only for its later target, as a pair waits for its target, not for its
    # anchor's whole 31-frame zone (which kept the newest triplet anchor ~26 frames behind).
    assert triplets.offsets.max() > pairs.offsets.max() - 16


def test_pairs_and_triplets_unpack_to_the_peaks_they_were_made_from():
    frames = np.array([10.0, 12.2, 15.0, 50.0], np.float32)
    bins = np.array([20.0, 30.4, 5.0, 25.0], np.float32)
    hashes, offsets = fp.pair_peaks(frames, bins, fp.REFERENCE)
    triplet = fp.is_triplet(hashes)
    # Anchor 0 has targets 1 and 2 (3 is beyond every 31-frame zone): two pairs and one
    # triplet; anchor 1 has only target 2 in its zone: one pair, no triplet.
    pairs = sorted((int(h) >> 13, (int(h) >> 5) & 255, int(h) & 31) for h in hashes[~triplet])
    assert pairs == [(20, 5, 5), (20, 30, 2), (30, 5, 3)]
    assert triplet.sum() == 1 and offsets[triplet].tolist() == [10.0]
    h = int(hashes[triplet][0]) & 0xFFFFFFFF
    assert (h >> 24, (h >> 17) & 127, (h >> 10) & 127, (h >> 5) & 31, h & 31) == (20, 10 + 63, -15 + 63, 2, 5)


def test_a_query_peak_is_wide_only_where_a_reference_could_have_picked_it():
    """Two tones 3 frames apart are each the maximum of a query's 5 x 5 neighbourhood, but only
    the louder one is the maximum of a reference's 11 x 9."""
    spec = np.full((60, 40), -60.0, np.float32)
    spec[20, 10], spec[23, 12] = -10.0, -20.0  # the louder first: both rise over the frame before
    frames, bins, wide = fp.find_peaks(spec, fp.QUERY)
    first_bin = fp.QUERY.band_bins[0]
    grid = {(round(float(f)), round(float(b)) - first_bin): bool(w) for f, b, w in zip(frames, bins, wide, strict=True)}
    assert grid == {(20, 10): True, (23, 12): False}
    _, _, every = fp.find_peaks(spec, replace(fp.QUERY, triplet_peak_neighborhood=None))
    assert every.all()


def test_a_query_looks_up_only_triplets_mostly_of_wide_peaks_and_keeps_the_references():
    """Stage 1 asks for a query's triplets only where at least 2 of the 3 peaks are wide. In real
    music (Drascula's; generated songs have few peaks close enough to differ) that is far fewer
    values, yet nearly every triplet the reference stored for the same audio, clean or under
    noise, is still among them."""
    files = demo_music_files()
    assert len(files) >= 3, "drascula-music is installed by scripts/bootstrap.sh"
    every_triplet = replace(fp.QUERY, triplet_peak_neighborhood=None)
    asked = {"before": 0, "after": 0}
    found = {"before": 0, "after": 0}
    for k, path in enumerate(files[:3]):
        x = audio.decode(path, sample_rate_hz=RATE, max_seconds=120)
        stored = fp.fingerprint(x).split()[1].hashes
        for snr_db in (None, 0):
            clip = x[20 * RATE : 25 * RATE]
            clip = clip if snr_db is None else media.add_noise(clip, snr_db, k)
            before = np.unique(fp.fingerprint(clip, every_triplet).split()[1].hashes)
            after = np.unique(fp.fingerprint(clip, fp.QUERY).split()[1].hashes)
            assert np.isin(after, before).all()
            for name, values in (("before", before), ("after", after)):
                asked[name] += values.size
                found[name] += int(np.isin(values, stored).sum())
    assert asked["after"] < 0.6 * asked["before"], asked
    assert found["after"] >= 0.85 * found["before"] > 0, found


def test_pair_and_triplet_values_never_collide(songs):
    hashes = np.concatenate([fp.fingerprint(x, fp.QUERY).hashes for x in songs.values()])
    triplet = fp.is_triplet(hashes)
    assert triplet.any() and (~triplet).any()
    assert hashes[~triplet].min() >= 0 and hashes[~triplet].max() < 1 << 21
    assert np.all((hashes[triplet] < 0) | (hashes[triplet] >= 1 << 26))


def test_triplet_settings_that_could_collide_with_pairs_are_refused():
    with pytest.raises(ValueError, match="triplet_fan_out"):
        replace(fp.QUERY, triplet_fan_out=1)
    with pytest.raises(ValueError, match="at most 31 frames"):
        replace(fp.REFERENCE, max_dt_frames=40)
    with pytest.raises(ValueError, match="2\\^24"):
        replace(fp.REFERENCE, min_freq_hz=0.0)
    assert replace(fp.REFERENCE, max_dt_frames=40, triplet_fan_out=None).max_dt_frames == 40


def test_smoothing_in_time_averages_the_power_of_neighbouring_frames():
    x = np.random.default_rng(1).standard_normal(RATE * 2).astype(np.float32)
    plain = 10 ** (fp.spectrogram_db(x, fp.QUERY) / 10)
    smoothed = 10 ** (fp.spectrogram_db(x, fp.QUERY_SMOOTHED) / 10)
    assert fp.QUERY_SMOOTHED.time_smoothing == (1.0, 2.0, 1.0)
    expected = (plain[:-2] + 2 * plain[1:-1] + plain[2:]) / 4
    assert np.allclose(smoothed[1:-1], expected, rtol=1e-3)
    # White noise's power fluctuates from frame to frame; averaged over three it spreads less.
    assert np.std(np.log(smoothed)) < 0.8 * np.std(np.log(plain))


def test_merging_keeps_each_hash_and_offset_once_in_time_then_value_order():
    a = fp.Fingerprints(np.array([7, -3, 7, 2**31 - 1], np.int32), np.array([2.5, 2.5, 0.0, 2.5], np.float32), 0)
    b = fp.Fingerprints(np.array([-3, -(2**31), 7], np.int32), np.array([2.5, 10.0, 2.0], np.float32), 0)
    merged = fp.merge_fingerprints([a, b], 42)
    assert merged.hashes.dtype == np.int32 and merged.offsets.dtype == np.float32 and merged.n_frames == 42
    assert list(zip(merged.offsets.tolist(), merged.hashes.tolist(), strict=True)) == [
        (0.0, 7), (2.0, 7), (2.5, -3), (2.5, 7), (2.5, 2**31 - 1), (10.0, -(2**31)),
    ]  # fmt: skip
    assert len(fp.merge_fingerprints([], 0)) == 0


def test_hashing_every_factor_at_once_gives_each_factors_own_hashes(songs):
    from recognition.engine.identify import retries

    peaks = fp.constellation(songs[2][20 * RATE : 25 * RATE], fp.QUERY)
    factors = [retries.time_and_frequency(f) for f in retries.WIDE_VARIANTS[::5]] + [(1.0, 1.0), (1.0, 1.05)]
    params = replace(fp.QUERY, triplet_fan_out=4, triplet_min_wide_peaks=3)
    together = fp.hash_variants(peaks, params, factors)
    triplets_alone = fp.hash_variants(peaks, params, factors, pairs=False)
    assert len(together) == len(triplets_alone) == len(factors)
    for (speed, frequency), batch, triplets in zip(factors, together, triplets_alone, strict=True):
        alone = fp.hash_constellation(peaks, params, speed=speed, frequency=frequency)
        assert np.array_equal(batch.hashes, alone.hashes) and np.array_equal(batch.offsets, alone.offsets)
        assert batch.n_frames == alone.n_frames and len(alone.split()[1]) > 0
        assert np.array_equal(triplets.hashes, alone.split()[1].hashes)
        assert np.array_equal(triplets.offsets, alone.split()[1].offsets)
    assert fp.hash_variants(peaks, params, []) == []


@pytest.mark.parametrize("size", [(5, 5), (11, 9), (1, 1), (4, 6), (3, 1), (8, 2)])
def test_the_maximum_filter_gives_ndimages_values(size):
    from scipy import ndimage

    from recognition.engine.fingerprint.peaks import maximum_filter

    rng = np.random.default_rng(sum(size))
    for shape in [(155, 227), (1, 7), (3, 2), (40, 1), (2, 300)]:
        for drawn in (rng.standard_normal(shape), rng.integers(0, 3, shape)):  # ties too
            values = drawn.astype(np.float32)
            expected = ndimage.maximum_filter(values, size=size, mode="nearest")
            assert np.array_equal(maximum_filter(values, size), expected), (shape, size)


@pytest.mark.parametrize("nearest", [1, 4, 9, 40])
def test_an_anchors_nearest_targets_are_those_of_its_whole_zone(nearest):
    from recognition.engine.fingerprint.hashes import _zone_pairs

    rng = np.random.default_rng(nearest)
    frames = np.sort(rng.uniform(0, 300, 900)).astype(np.float32)  # denser than a query's peaks
    frames[100:140] = frames[100]  # a chord: many peaks on one frame
    bins = rng.uniform(2, 120, frames.size).astype(np.float32)
    anchors = rng.random(frames.size) < 0.5
    anchor, target, rank = _zone_pairs(frames, bins, fp.QUERY)
    kept = (rank < nearest) & anchors[anchor]
    window = _zone_pairs(frames, bins, fp.QUERY, nearest=nearest, anchors=anchors)
    for got, expected in zip(window, (anchor[kept], target[kept], rank[kept]), strict=True):
        assert np.array_equal(got, expected)
    assert kept.sum() < anchor.size
    assert all(part.size == 0 for part in _zone_pairs(frames[:1], bins[:1], fp.QUERY, nearest=2))


def test_moving_a_fast_clips_peaks_back_to_normal_speed_recovers_its_hashes(songs):
    clip = songs[3][10 * RATE : 20 * RATE]
    stored = set(fp.fingerprint(clip).split()[0].hashes.tolist())
    fast = fp.constellation(media.played_faster(clip, 1.02), fp.QUERY)

    def found(speed):
        return len(stored & set(fp.hash_constellation(fast, fp.QUERY, speed).hashes.tolist())) / len(stored)

    assert found(1 / 1.02) > 0.75 and found(1 / 1.02) > 4 * found(1.0)
    assert found(1.02) < found(1.0)  # the wrong way moves them further
    assert fp.hash_constellation(fast, fp.QUERY, 1 / 1.02).n_frames == pytest.approx(fast.n_frames * 1.02, abs=1)
