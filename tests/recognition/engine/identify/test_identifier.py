"""The Identifier: a clip's two-stage lookup and its answer (recognition/engine/identify/identifier.py)."""

from dataclasses import replace

import numpy as np
import pytest

from recognition.engine import Identifier, LookupRows, MemoryIndex, matching
from recognition.engine import fingerprint as fp
from tests import media
from tests.recognition.engine.indexes import CountingIndex

RATE = media.ENGINE_RATE
SEEDS = media.SONG_SEEDS


@pytest.mark.parametrize(("seed", "start_s"), [(3, 12.345), (5, 0.0), (7, 41.01)])
def test_time_shifted_copy_matches_at_its_offset(engine, songs, seed, start_s):
    start = int(start_s * RATE)
    match = engine.identify(songs[seed][start : start + 5 * RATE])
    assert match is not None and match.track_id == seed
    assert abs(fp.frames_to_seconds(match.offset_frames) - start_s) < 0.05
    assert match.confidence > 0.9999


@pytest.mark.parametrize("snr_db", [10, 0])
def test_noisy_copy_still_matches(engine, songs, snr_db):
    found = 0
    for k, seed in enumerate(SEEDS):
        start = (5 + 3 * k) * RATE
        match = engine.identify(media.add_noise(songs[seed][start : start + 8 * RATE], snr_db, seed))
        found += match is not None and match.track_id == seed
    assert found >= len(SEEDS) - 1


def test_stage_one_looks_up_triplets_everywhere_and_stage_two_pairs_in_the_candidates(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    counting = CountingIndex(index)
    engine = Identifier(counting, candidates=2)
    start = int(23.4 * RATE)
    match = engine.identify(songs[6][start : start + 5 * RATE])
    assert match is not None and match.track_id == 6
    assert abs(fp.frames_to_seconds(match.offset_frames) - 23.4) < 0.05
    (triplet_hashes, everywhere), (pair_hashes, candidates) = counting.calls
    assert everywhere is None and fp.is_triplet(triplet_hashes).all()
    assert not fp.is_triplet(pair_hashes).any()
    assert 6 in candidates and 1 <= candidates.size <= 2


class _IndexHidingTrack6Triplets(MemoryIndex):
    """Stage 1 never finds track 6, and the bound counts only the tracks with votes."""

    def lookup(self, hashes, tracks=None):
        found = super().lookup(hashes, tracks)
        keep = (found.track_ids != 6) | ~fp.is_triplet(found.hashes)
        return LookupRows(found.hashes[keep], found.track_ids[keep], found.offsets[keep])

    def track_count(self):
        return 0


def test_a_track_stage_one_leaves_out_cannot_be_matched(songs):
    index = _IndexHidingTrack6Triplets()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))

    engine = Identifier(index, speed_variants=())
    start = int(23.4 * RATE)
    assert engine.identify(songs[6][start : start + 5 * RATE]) is None


def test_a_clips_triplet_votes_are_ranked_once_for_the_choice_and_the_decision(engine, songs, monkeypatch):
    ranked = []
    rank_tracks = matching.rank_tracks
    monkeypatch.setattr(
        matching, "rank_tracks", lambda hits, *a, **k: ranked.append(len(hits)) or rank_tracks(hits, *a, **k)
    )
    start = int(23.4 * RATE)
    match = engine.identify(songs[6][start : start + 5 * RATE])
    assert match is not None and match.track_id == 6
    assert len(ranked) == 2  # stage 1's triplet votes (choice and decision), the candidates' pairs


PAIRS_ONLY_QUERY = replace(fp.QUERY, triplet_fan_out=None)


def test_one_stage_and_two_stages_agree_on_clean_clips(songs, engine):
    every_pair = MemoryIndex(pairs_in_every_track=True)
    for seed, samples in songs.items():
        every_pair.add(seed, fp.fingerprint(samples))
    one_stage = replace(engine, index=every_pair, params=PAIRS_ONLY_QUERY)
    for seed, start_s in [(2, 5.0), (4, 30.5), (8, 50.0)]:
        clip = songs[seed][int(start_s * RATE) : int((start_s + 4) * RATE)]
        a, b = engine.identify(clip), one_stage.identify(clip)
        assert a is not None and b is not None
        assert a.track_id == b.track_id == seed
        # The decision on pairs is the same whether stage 1 chose the tracks or all were read.
        two_stage_pairs = engine.votes(fp.fingerprint(clip, engine.params)).pairs
        one_stage_pairs = one_stage.votes(fp.fingerprint(clip, PAIRS_ONLY_QUERY)).pairs
        a, b = (
            matching.best_match(hits, 4 * 31, engine.index.track_frames) for hits in (two_stage_pairs, one_stage_pairs)
        )
        assert (a.track_id, a.score, a.offset_frames) == (b.track_id, b.score, b.offset_frames)


def test_unrelated_music_noise_and_silence_are_no_match(engine):
    for seed in range(100, 130):
        clip = media.to_engine_rate(media.synth_song(seed, 6))
        assert engine.identify(clip) is None, f"unrelated song {seed} matched"
    rng = np.random.default_rng(0)
    assert engine.identify(rng.standard_normal(5 * RATE).astype(np.float32) * 0.3) is None
    silence = np.zeros(5 * RATE, np.float32)
    assert len(fp.fingerprint(silence, fp.QUERY)) == 0
    assert engine.identify(silence) is None


def test_identify_clip_gives_the_match_of_identify_and_the_clips_hash_count(engine, songs):
    known = songs[media.SONG_SEEDS[0]][8 * 8000 : 13 * 8000]
    answer = engine.identify_clip(known)
    assert answer.match == engine.identify(known) and answer.match is not None
    assert answer.hashes == len(fp.fingerprint(known, fp.QUERY)) > 0
    silent = engine.identify_clip(np.zeros(5 * 8000, np.float32))
    assert silent == type(answer)(None, 0)


@pytest.fixture
def ffts(monkeypatch):
    """Count the rows of FFTs the engine computes (one per frame and shift)."""
    import scipy.fft

    real = scipy.fft.rfft
    rows = []

    def counted(x, *args, **kwargs):
        rows.append(np.shape(x)[0])
        return real(x, *args, **kwargs)

    monkeypatch.setattr(scipy.fft, "rfft", counted)
    return rows


def test_a_clip_that_finds_no_match_computes_each_frame_spectrum_once(engine, songs, ffts):
    """The peaks (2 shifts), the retry smoothed in time (the same 2) and the sketches (4 shifts, 2
    of them the peaks') read one set of spectra: 4 shifts' frames, not 8."""
    rng = np.random.default_rng(3)
    unknown = (0.3 * rng.standard_normal(5 * RATE)).astype(np.float32)
    frames = (unknown.size - fp.QUERY.fft_size) // fp.QUERY.hop_size + 1
    assert engine.identify_clip(unknown).match is None
    assert sum(ffts) <= 4 * frames


def test_the_denser_look_reads_the_spectrogram_and_maxima_of_the_first(songs, monkeypatch):
    """The denser look differs from the first only in its budget of peaks: it picks them from
    the maxima the first look found (one search of the spectrogram a shift), and the smoothed
    retry from its own."""
    from recognition.engine.fingerprint import peaks

    searched = []
    real = peaks._neighbourhood_maxima
    monkeypatch.setattr(peaks, "_neighbourhood_maxima", lambda spec, params: searched.append(1) or real(spec, params))
    clip = songs[2][5 * RATE : 10 * RATE]
    spectra = fp.Spectra(clip, fft_size=fp.QUERY.fft_size, hop_size=fp.QUERY.hop_size)
    first = fp.constellation(clip, fp.QUERY, spectra=spectra)
    assert len(searched) == fp.QUERY.shifts
    dense = fp.constellation(clip, fp.QUERY_DENSE, spectra=spectra)
    assert len(searched) == fp.QUERY.shifts
    assert all(d[0].size > f[0].size for d, f in zip(dense.peaks, first.peaks, strict=True))
    fp.constellation(clip, fp.QUERY_SMOOTHED, spectra=spectra)
    assert len(searched) == 2 * fp.QUERY.shifts


@pytest.mark.parametrize("seed", [1, 4])
def test_spectra_computed_once_give_what_computing_them_again_gives(songs, seed):
    from recognition.engine import sketch as sk

    clip = media.add_noise(songs[seed][3 * RATE : 8 * RATE], 0.0, seed)
    spectra = fp.Spectra(clip, fft_size=fp.QUERY.fft_size, hop_size=fp.QUERY.hop_size)
    for params in (fp.QUERY, fp.QUERY_SMOOTHED, fp.QUERY_DENSE, fp.QUERY_DENSE_CLIP):
        shared, fresh = fp.fingerprint(clip, params, spectra=spectra), fp.fingerprint(clip, params)
        assert np.array_equal(shared.hashes, fresh.hashes) and np.array_equal(shared.offsets, fresh.offsets)
    shared_sketch, fresh_sketch = sk.query_sketch(clip, spectra=spectra), sk.query_sketch(clip)
    assert all(np.array_equal(a, b) for a, b in zip(shared_sketch.shifts, fresh_sketch.shifts, strict=True))
    short = clip[:300]  # shorter than a frame
    assert sk.query_sketch(short, spectra=fp.Spectra(short, fft_size=512, hop_size=256)).n_frames == 0


def _triplets_at_place(
    engine: Identifier, clip: np.ndarray, params: fp.FingerprintParams, track: int, at: float
) -> int:
    """The track's stored triplet rows that a look with `params` meets at the clip's place (in every
    track, as stage 1 looks them up)."""
    hits = engine.votes(fp.fingerprint(clip, params)).triplets
    own = hits.select((hits.track_ids == track) & (np.abs(hits.db_offsets - hits.query_offsets - at) <= 1))
    return int(np.unique(own.db_offsets).size)


def test_the_clips_denser_look_meets_triplets_another_song_pushed_past_six_targets(engine, songs):
    """Under another song at 0 dB its peaks stand between an anchor and the reference's two
    nearest targets: the clip's denser look, from 8 nearest targets (fp.QUERY_DENSE_CLIP), meets
    more of the song's stored triplets at the clip's place than the windows' look from 6."""
    assert engine.dense_params == fp.QUERY_DENSE_CLIP and engine.window_dense_params == fp.QUERY_DENSE
    other = media.to_engine_rate(media.synth_song(101, 6))  # never indexed
    met = []
    for seed, start_s in [(1, 5.0), (3, 20.0), (5, 33.0), (7, 47.0)]:
        clip = songs[seed][int(start_s * RATE) : int((start_s + 5) * RATE)]
        under = other[: clip.size] * np.sqrt(np.mean(clip**2) / np.mean(other[: clip.size] ** 2))
        at = start_s * RATE / fp.QUERY.hop_size
        met.append(
            [_triplets_at_place(engine, clip + under, p, seed, at) for p in (fp.QUERY_DENSE, fp.QUERY_DENSE_CLIP)]
        )
    assert all(eight >= six for six, eight in met)
    assert sum(eight for _, eight in met) > sum(six for six, _ in met)
