"""Retries smoothed in time and at other speeds (recognition/engine/identify/retries.py)."""

from dataclasses import replace

import numpy as np
import pytest

from catalog.demo import demo_music_files
from recognition.engine import Identifier, MemoryIndex, audio
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import retries
from tests import media
from tests.recognition.engine.indexes import CountingIndex, counted_engine_without_smoothing

RATE = media.ENGINE_RATE


def test_two_percent_faster_playback_matches_through_the_speed_retry(engine, songs):
    clip = songs[4][10 * RATE : 18 * RATE]
    match = engine.identify(media.played_faster(clip, 1.02))
    assert match is not None and match.track_id == 4


def test_speed_retries_look_up_fewer_triplets_than_the_clip_as_heard(songs):
    counting, engine = counted_engine_without_smoothing(songs)
    assert engine.retry_params.triplet_fan_out == 6 < engine.params.triplet_fan_out
    match = engine.identify(media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02))
    assert match is not None and match.track_id == 4
    (heard, _), _, (retried, _), _ = counting.calls  # each: triplets everywhere, pairs in candidates
    per_speed = np.unique(retried).size / len(engine.speed_variants)
    assert fp.is_triplet(retried).all() and per_speed < 0.75 * np.unique(heard).size


def test_speed_retries_hash_the_peaks_of_retry_shifts_sub_frame_shifts(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    clip = media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02)
    retried = {}
    for shifts in (1, 2):
        counting = CountingIndex(index)
        engine = Identifier(counting, retry_shifts=shifts, smoothed_params=None, dense_params=None)
        match = engine.identify(clip)
        assert match is not None and match.track_id == 4
        retried[shifts] = np.unique(counting.calls[2][0]).size  # the retries' lookup in every track
    assert Identifier(index).retry_shifts == fp.QUERY.shifts == 2
    assert retried[1] < 0.7 * retried[2]


def test_the_smoothed_retry_looks_in_stage_ones_candidates_and_counts_as_one_more_look(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    unknown = media.to_engine_rate(media.synth_song(77, 5))
    counting = CountingIndex(index)
    engine = Identifier(counting, wide_variants=())
    assert engine.identify(unknown) is None
    # As heard (triplets everywhere, pairs in the candidates), smoothed in the same candidates,
    # then the denser look and the speeds (each: triplets everywhere, pairs in their candidates).
    assert [tracks is None for _, tracks in counting.calls] == [True, False, False, True, False, True, False]
    (_, candidates), (smoothed, smoothed_in) = counting.calls[1:3]
    assert np.array_equal(np.sort(smoothed_in), np.sort(candidates))
    assert engine.smoothed_retry_params == replace(fp.QUERY_SMOOTHED, triplet_fan_out=6)
    expected = fp.fingerprint(unknown, engine.smoothed_retry_params).hashes
    assert np.array_equal(np.unique(smoothed), np.unique(expected))
    # A clip decided as heard carries the bound of seven looks (as heard, smoothed, denser, four
    # speeds).
    clip = songs[3][8 * RATE : 13 * RATE]
    with_retry = Identifier(index, wide_variants=()).identify(clip)
    without = Identifier(index, smoothed_params=None, wide_variants=()).identify(clip)
    assert with_retry is not None and without is not None and with_retry.track_id == without.track_id == 3
    assert with_retry.log10_p == pytest.approx(without.log10_p + np.log10(7 / 6))


def test_real_music_under_broadband_noise_is_found_more_often_with_the_smoothed_retry():
    """Drascula's music at 5 s / -5 dB and 3 s / 0 dB white noise: picking the peaks again on the
    spectrogram smoothed in time answers clips the peaks as heard leave unanswered, never wrongly."""
    files = demo_music_files()
    assert len(files) >= 3, "drascula-music is installed by scripts/bootstrap.sh"
    index = MemoryIndex()
    tracks = {}
    for track_id, path in enumerate(files):
        tracks[track_id] = audio.decode(path, sample_rate_hz=RATE, max_seconds=600)
        index.add(track_id, fp.fingerprint(tracks[track_id]), sk.sketch(tracks[track_id]))
    engines = {"smoothed retry": Identifier(index), "as heard only": Identifier(index, smoothed_params=None)}
    right = dict.fromkeys(engines, 0)
    for snr_db, length_s in ((-5, 5), (0, 3)):
        for track_id, x in tracks.items():
            for k, start_s in enumerate(np.linspace(3, x.size / RATE - length_s - 3, 8)):
                start = int(start_s * RATE)
                clip = media.add_noise(x[start : start + length_s * RATE], snr_db, 100 * track_id + k)
                for name, engine in engines.items():
                    match = engine.identify(clip)
                    assert match is None or match.track_id == track_id, (name, track_id, start_s, snr_db)
                    right[name] += match is not None
    assert right["smoothed retry"] >= right["as heard only"] + 4, right


@pytest.mark.parametrize(("speed", "start_s"), [(1.10, 12.0), (0.90, 20.0)])
def test_a_clip_played_ten_percent_fast_or_slow_matches_at_its_offset_with_its_speed(index, songs, speed, start_s):
    """A retry at the speed that undoes the change finds the track where the clip starts, and the
    match says how fast the clip ran."""
    clip = media.played_faster(songs[5][int(start_s * RATE) : int((start_s + 9) * RATE)], speed)[: 6 * RATE]
    assert Identifier(index, speed_variants=(), wide_variants=()).identify(clip) is None  # as heard: nothing
    match = Identifier(index, speed_variants=(1 / speed,), wide_variants=()).identify(clip)
    assert match is not None and match.track_id == 5
    assert abs(fp.frames_to_seconds(match.offset_frames) - start_s) < 0.1
    assert match.speed == pytest.approx(speed, rel=0.005)
    assert match.pitch_semitones == pytest.approx(12 * np.log2(speed))


def test_a_clip_as_heard_reports_no_change_of_speed_or_pitch(engine, songs):
    """Its speed is measured from its votes' drift, within a fraction of a percent of 1: no change."""
    match = engine.identify(songs[6][5 * RATE : 10 * RATE])
    assert match is not None and match.speed == pytest.approx(1.0, abs=0.003) and match.pitch_semitones == 0.0
    assert not match.change


def test_a_transposed_clip_matches_through_a_retry_that_moves_its_bins_alone(index):
    """The same song two semitones up at the same tempo: moved back in frequency only, its peaks
    find the track at its offset, and the match reports the pitch and no speed change."""
    up = media.to_engine_rate(media.synth_song(5, 30, transpose_semitones=2.0))[12 * RATE : 18 * RATE]
    assert Identifier(index, speed_variants=(2 ** (-1 / 6),), wide_variants=()).identify(up) is None  # a tape speed
    match = Identifier(index, speed_variants=((1.0, 2 ** (-1 / 6)),), wide_variants=()).identify(up)
    assert match is not None and match.track_id == 5
    assert abs(fp.frames_to_seconds(match.offset_frames) - 12.0) < 0.1
    assert match.speed == pytest.approx(1.0, abs=0.003) and match.pitch_semitones == pytest.approx(2.0)


def test_a_faster_tempo_matches_through_a_retry_that_moves_its_frames_alone(index):
    """The same song 10 % faster, its pitch kept: moved back in time only, its peaks find the
    track where the clip starts (the song's 13.2 s), and the match reports the speed."""
    fast = media.to_engine_rate(media.synth_song(5, 30, tempo=1.1))[12 * RATE : 18 * RATE]
    match = Identifier(index, speed_variants=((1 / 1.1, 1.0),)).identify(fast)
    assert match is not None and match.track_id == 5
    assert abs(fp.frames_to_seconds(match.offset_frames) - 13.2) < 0.15
    assert match.speed == pytest.approx(1.1, rel=0.003) and match.pitch_semitones == 0.0


def test_wide_retries_find_a_clip_ten_percent_fast_on_their_small_share_of_the_bound(index, songs):
    """The wide speeds are tried last, on WIDE_SHARE of the bound: a clip played 10 % fast is found
    at its offset with its speed, and a clip decided as heard pays only a tenth more in its bound."""
    clip = media.played_faster(songs[5][12 * RATE : 21 * RATE], 1.1)[: 6 * RATE]
    plain = Identifier(index, wide_variants=())
    wide = Identifier(index, wide_variants=(1 / 1.05, 1 / 1.1, 1 / 1.15))
    assert plain.identify(clip) is None
    match = wide.identify(clip)
    assert match is not None and match.track_id == 5 and match.speed == pytest.approx(1.1, rel=0.003)
    assert abs(fp.frames_to_seconds(match.offset_frames) - 12.0) < 0.1
    # Three wide looks on a tenth: each decided as one of 30; the clip as heard as one of 8, not 7.
    assert match.log10_p <= np.log10(wide.match_params.max_false_match_rate)
    heard = songs[3][8 * RATE : 13 * RATE]
    assert wide.identify(heard).log10_p == pytest.approx(plain.identify(heard).log10_p + np.log10(8 / 7))
    assert retries.WIDE_SHARE == 0.1 and Identifier(index).wide_variants == retries.WIDE_VARIANTS


def test_the_wide_screen_decides_on_the_right_speed_among_many_and_keeps_the_bound(index, songs):
    """Of many wide retries, the screen keeps the few whose triplets align best: the clip played
    10 % fast is still found at its speed, and its bound counts every wide retry as a look."""
    clip = media.played_faster(songs[5][12 * RATE : 21 * RATE], 1.1)[: 6 * RATE]
    every = Identifier(index, wide_variants=retries.WIDE_VARIANTS, wide_decided=None).identify(clip)
    screened = Identifier(index, wide_variants=retries.WIDE_VARIANTS).identify(clip)
    assert screened is not None and screened.track_id == 5 and abs(screened.speed - 1.1) < 0.011
    assert every is not None and screened.log10_p == pytest.approx(every.log10_p)
    assert len(retries.WIDE_VARIANTS) > retries.WIDE_DECIDED


def test_the_wide_screen_of_audio_with_no_triplet_votes_decides_nothing(index):
    """A clip whose retries find no triplet in any track leaves the screen nothing to decide on."""
    rng = np.random.default_rng(3)
    hum = 0.1 * np.sin(2 * np.pi * 220 * np.arange(5 * RATE) / RATE) + 0.001 * rng.standard_normal(5 * RATE)
    engine = Identifier(index, wide_variants=retries.WIDE_VARIANTS)
    assert engine.identify(hum.astype(np.float32)) is None


def test_the_wide_grid_covers_the_speeds_pitches_and_tempos_it_names():
    """retries.WIDE_VARIANTS: speeds every 1 % from -20 to +25 % past the near ones, pitch every
    1 % within 2 semitones (tempo kept), tempo every 2 % within 10 % (pitch kept)."""
    speeds = {round(1 / v, 2) for v in retries.WIDE_VARIANTS if isinstance(v, float)}
    assert speeds == {round(1 + k / 100, 2) for k in range(-20, 26) if abs(k) > 2}
    pitches = [f for t, f in (v for v in retries.WIDE_VARIANTS if not isinstance(v, float)) if t == 1.0]
    tempos = [t for t, f in (v for v in retries.WIDE_VARIANTS if not isinstance(v, float)) if f == 1.0]
    # every transposition within 2 semitones is undone to within about half a percent by one of
    # them (the steps are 1 % of the speed; the clip as heard covers no transposition)
    for semitones in np.linspace(-2, 2, 81):
        assert min(abs(f * 2 ** (semitones / 12) - 1) for f in [*pitches, 1.0]) <= 0.0055
    assert len(tempos) == 10 and min(tempos) == pytest.approx(1 / 1.1) and max(tempos) == pytest.approx(1 / 0.9)
