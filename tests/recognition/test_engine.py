"""The engine alone (fingerprint, matching, identify) on generated signals, and on Debian's
drascula music where only real music shows the effect: no database."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats

from catalog.demo import demo_music_files
from recognition.engine import arrays, audio, matching
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import TRIPLET_SHARE, Identifier, LookupMemo
from recognition.engine.index import LookupRows
from recognition.engine.listening import ListeningSession
from recognition.engine.matching import Votes
from recognition.engine.memory import MemoryIndex
from tests import media

RATE = media.ENGINE_RATE
SEEDS = media.SONG_SEEDS


def _add_noise(x, snr_db, seed):
    noise = np.random.default_rng(seed).standard_normal(x.size).astype(np.float32)
    noise *= np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return x + noise


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


@pytest.mark.parametrize(
    "params",
    [fp.QUERY, fp.REFERENCE, PAIRS_ONLY_QUERY, fp.QUERY_SMOOTHED],
    ids=["query", "reference", "pairs-only-query", "smoothed-query"],
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


def test_a_streamed_query_emits_triplets_as_soon_as_its_pairs(songs):
    stream = fp.StreamingFingerprinter(fp.QUERY)
    pairs, triplets = stream.push(songs[3][: 4 * RATE]).split()
    # A triplet waits only for its later target, as a pair waits for its target, not for its
    # anchor's whole 31-frame zone (which kept the newest triplet anchor ~26 frames behind).
    assert triplets.offsets.max() > pairs.offsets.max() - 16


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
        match = engine.identify(_add_noise(songs[seed][start : start + 8 * RATE], snr_db, seed))
        found += match is not None and match.track_id == seed
    assert found >= len(SEEDS) - 1


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
            clip = clip if snr_db is None else _add_noise(clip, snr_db, k)
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


class _CountingIndex:
    """A MemoryIndex whose lookups are recorded: which hashes were asked for, in which tracks."""

    def __init__(self, index: MemoryIndex):
        self.index = index
        self.calls: list[tuple[np.ndarray, np.ndarray | None]] = []

    def lookup(self, hashes, tracks=None):
        self.calls.append((np.asarray(hashes), None if tracks is None else np.asarray(tracks)))
        return self.index.lookup(hashes, tracks)

    def track_frames(self, track_ids):
        return self.index.track_frames(track_ids)

    def track_count(self):
        return self.index.track_count()

    def sketch_slices(self, track_ids, first_frames, n_frames):
        return self.index.sketch_slices(track_ids, first_frames, n_frames)


def test_stage_one_looks_up_triplets_everywhere_and_stage_two_pairs_in_the_candidates(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    counting = _CountingIndex(index)
    engine = Identifier(counting, candidates=2)
    start = int(23.4 * RATE)
    match = engine.identify(songs[6][start : start + 5 * RATE])
    assert match is not None and match.track_id == 6
    assert abs(fp.frames_to_seconds(match.offset_frames) - 23.4) < 0.05
    (triplet_hashes, everywhere), (pair_hashes, candidates) = counting.calls
    assert everywhere is None and fp.is_triplet(triplet_hashes).all()
    assert not fp.is_triplet(pair_hashes).any()
    assert 6 in candidates and 1 <= candidates.size <= 2


def test_a_lookup_in_every_track_finds_triplets_only_as_in_the_store(songs):
    index = MemoryIndex()
    index.add(1, fp.fingerprint(songs[1]))
    hashes = fp.fingerprint(songs[1][: 10 * RATE]).hashes
    everywhere = index.lookup(hashes).hashes
    assert everywhere.size > 0 and fp.is_triplet(everywhere).all()
    in_track = index.lookup(hashes, np.array([1])).hashes
    assert (~fp.is_triplet(in_track)).sum() > 2 * everywhere.size


def test_a_lookup_in_every_track_reads_at_most_the_cap_of_each_triplet_value():
    cap = fp.MAX_ROWS_PER_TRIPLET
    common, rare, pair = -1001, -2002, 77
    index = MemoryIndex()
    # `common` at every frame below 2 * cap + 100, over two tracks (even and odd frames).
    for track, first in ((1, 0), (2, 1)):
        frames = np.arange(first, 2 * cap + 100, 2, dtype=np.float32)
        index.add(track, fp.Fingerprints(np.full(frames.size, common, np.int32), frames, 1000))
    index.add(3, fp.Fingerprints(np.array([rare, rare, pair], np.int32), np.array([5.0, 9.0, 5.0], np.float32), 20))
    found = index.lookup(np.array([common, rare, pair]))
    hashes, tracks, offsets = found.hashes, found.track_ids, found.offsets
    assert (hashes == rare).sum() == 2 and pair not in hashes
    # The cap keeps the earliest rows in track time, as the store's key holds them.
    assert (hashes == common).sum() == cap
    assert sorted(offsets[hashes == common].tolist()) == list(range(cap))
    assert set(tracks[hashes == common].tolist()) == {1, 2}
    # Stage 2 (named tracks) reads every row of its tracks; studies can lift the cap.
    assert (index.lookup(np.array([common]), np.array([1, 2])).hashes == common).sum() == 2 * cap + 100
    unlimited = MemoryIndex(max_rows_per_triplet=None)
    unlimited.add(1, fp.Fingerprints(np.full(cap + 1, common, np.int32), np.arange(cap + 1, dtype=np.float32), 500))
    assert len(unlimited.lookup(np.array([common])).hashes) == cap + 1


def test_a_recording_stored_more_often_than_the_cap_is_still_found(songs):
    """A cap, not a stop-list: a song on hundreds of releases stores each of its triplets more
    often than stage 1 reads, and must still be recognised (as one of its copies)."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    copies = range(100, 101 + fp.MAX_ROWS_PER_TRIPLET)
    reference = fp.fingerprint(songs[6])
    for copy in copies:
        index.add(copy, reference)
    _, triplets = reference.split()
    read = np.unique(index.lookup(triplets.hashes).hashes, return_counts=True)[1]
    assert read.size > 100 and (read == fp.MAX_ROWS_PER_TRIPLET).all()  # every value is capped
    engine = Identifier(index)
    start = int(23.4 * RATE)
    match = engine.identify(songs[6][start : start + 5 * RATE])
    assert match is not None and match.track_id in {6, *copies}
    assert abs(fp.frames_to_seconds(match.offset_frames) - 23.4) < 0.05


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


def test_the_false_match_bound_counts_the_whole_catalog_not_the_candidates(engine, songs):
    start = int(23.4 * RATE)
    clip = fp.fingerprint(songs[6][start : start + 5 * RATE], engine.params)
    hits = engine.votes(clip).pairs
    alone = matching.best_match(hits, clip.n_frames, engine.index.track_frames)
    counted = matching.best_match(hits, clip.n_frames, engine.index.track_frames, tracks=10_000 * alone.candidates)
    assert counted.track_id == alone.track_id == 6
    assert counted.log10_p == pytest.approx(alone.log10_p + 4)


def test_short_clips_are_decided_on_triplets_when_their_pairs_are_too_few(engine, songs):
    answered = {"both": 0, "pairs alone": 0}
    for seed in SEEDS:
        for start_s in (3.3, 17.1, 31.7, 44.9):
            clip = fp.fingerprint(songs[seed][int(start_s * RATE) : int((start_s + 1.5) * RATE)], engine.params)
            votes = engine.votes(clip)
            for kind, match in (
                ("both", engine.decide(votes, clip.n_frames, looks=1)),
                (
                    "pairs alone",
                    engine.decide(
                        replace(votes, triplets=matching.Hits.empty(), triplet_ranking=None), clip.n_frames, looks=1
                    ),
                ),
            ):
                assert match is None or match.track_id == seed
                answered[kind] += match is not None
    assert answered["both"] >= answered["pairs alone"] + 3, answered


def test_a_decision_on_triplets_spends_only_its_share_of_the_threshold(engine, songs):
    start = int(23.4 * RATE)
    clip = fp.fingerprint(songs[6][start : start + 3 * RATE], engine.params)
    triplets = engine.votes(clip).triplets
    alone = matching.best_match(triplets, clip.n_frames, engine.index.track_frames, tracks=len(SEEDS))
    decided = engine.decide(Votes(matching.Hits.empty(), triplets), clip.n_frames, looks=1)
    assert decided.track_id == alone.track_id == 6
    assert decided.log10_p == pytest.approx(alone.log10_p - np.log10(TRIPLET_SHARE))


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


def test_a_listening_session_answers_as_audio_arrives_and_never_for_unknown_music(engine, songs):
    session = ListeningSession(engine)
    clip = songs[5][int(17.0 * RATE) : int(29.0 * RATE)]
    chunk = RATE // 2
    answered_after = None
    for i in range(0, clip.size, chunk):
        match = session.push(clip[i : i + chunk])
        if match is not None:
            answered_after = (i + chunk) / RATE
            break
    assert match is not None and match.track_id == 5 and answered_after <= 8
    assert abs(fp.frames_to_seconds(match.offset_frames) - 17.0) < 0.05
    unknown = ListeningSession(engine)
    song = media.to_engine_rate(media.synth_song(321, 12))
    assert all(unknown.push(song[i : i + chunk]) is None for i in range(0, song.size, chunk))
    assert unknown.finish() is None


def test_two_percent_faster_playback_matches_through_the_speed_retry(engine, songs):
    clip = songs[4][10 * RATE : 18 * RATE]
    match = engine.identify(media.played_faster(clip, 1.02))
    assert match is not None and match.track_id == 4


def _counted_engine_without_smoothing(songs) -> tuple[_CountingIndex, Identifier]:
    """An engine over the songs whose lookups are recorded, with no smoothed retry (so a clip
    that fails as heard goes straight to the speed retries)."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    counting = _CountingIndex(index)
    engine = Identifier(counting, smoothed_params=None)
    return counting, engine


def test_speed_retries_look_up_fewer_triplets_than_the_clip_as_heard(songs):
    counting, engine = _counted_engine_without_smoothing(songs)
    assert engine.retry_params.triplet_fan_out == 6 < engine.params.triplet_fan_out
    match = engine.identify(media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02))
    assert match is not None and match.track_id == 4
    (heard, _), _, (retried, _), _ = counting.calls  # each: triplets everywhere, pairs in candidates
    per_speed = np.unique(retried).size / len(engine.speed_variants)
    assert fp.is_triplet(retried).all() and per_speed < 0.75 * np.unique(heard).size


def test_a_clip_asks_the_store_for_each_value_in_every_track_once(songs):
    """The speed retries look up in every track only the triplets the clip did not already ask
    as heard; those it did are answered from the rows read then."""
    counting, engine = _counted_engine_without_smoothing(songs)
    clip = media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02)
    match = engine.identify(clip)
    assert match is not None and match.track_id == 4
    (heard, _), _, (retried, _), _ = counting.calls
    peaks = fp.constellation(clip, engine.params)
    moved = fp.Constellation(peaks.peaks[: engine.retry_shifts], peaks.n_frames)
    wanted = np.unique(
        np.concatenate(
            [
                fp.hash_constellation(moved, engine.retry_params, speed=f).split()[1].hashes
                for f in engine.speed_variants
            ]
        )
    )
    shared = np.intersect1d(wanted, heard)
    assert shared.size > 0 and np.array_equal(np.unique(retried), np.setdiff1d(wanted, heard))


def _columns(rows: LookupRows) -> np.ndarray:
    return np.column_stack([rows.hashes, rows.track_ids, rows.offsets])


def test_a_lookup_memo_answers_as_the_store_does():
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 400, 3000)
    index = MemoryIndex()
    for track in range(6):
        part = stored[track::6].astype(np.int32) | np.int32(1 << 24)  # triplet values
        index.add(track, fp.Fingerprints(part, np.arange(part.size, dtype=np.float32), part.size))
    counting = _CountingIndex(index)
    asked = LookupMemo(counting.lookup)
    first = rng.integers(0, 400, 150) | (1 << 24)
    second = np.r_[first[:60], rng.integers(400, 500, 20) | (1 << 24), rng.integers(0, 400, 90) | (1 << 24)]
    for values in (first, second, second[:10]):
        rows = _columns(asked(values))
        expected = _columns(index.lookup(values))
        assert rows.shape[0] > 0 and np.array_equal(np.unique(rows, axis=0), np.unique(expected, axis=0))
    asked_of_store = [np.unique(hashes) for hashes, _ in counting.calls]
    assert len(asked_of_store) == 2  # the third was answered from the rows already read
    assert np.intersect1d(*asked_of_store).size == 0
    assert np.array_equal(np.union1d(*asked_of_store), np.union1d(first, second))
    assert len(asked(np.array([5 | (1 << 24)]), np.array([1]))) == len(index.lookup([5 | (1 << 24)], [1]))


def test_speed_retries_hash_the_peaks_of_retry_shifts_sub_frame_shifts(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    clip = media.played_faster(songs[4][10 * RATE : 18 * RATE], 1.02)
    retried = {}
    for shifts in (1, 2):
        counting = _CountingIndex(index)
        engine = Identifier(counting, retry_shifts=shifts, smoothed_params=None)
        match = engine.identify(clip)
        assert match is not None and match.track_id == 4
        retried[shifts] = np.unique(counting.calls[2][0]).size  # the retries' lookup in every track
    assert Identifier(index).retry_shifts == fp.QUERY.shifts == 2
    assert retried[1] < 0.7 * retried[2]


def test_smoothing_in_time_averages_the_power_of_neighbouring_frames():
    x = np.random.default_rng(1).standard_normal(RATE * 2).astype(np.float32)
    plain = 10 ** (fp.spectrogram_db(x, fp.QUERY) / 10)
    smoothed = 10 ** (fp.spectrogram_db(x, fp.QUERY_SMOOTHED) / 10)
    assert fp.QUERY_SMOOTHED.time_smoothing == (1.0, 2.0, 1.0)
    expected = (plain[:-2] + 2 * plain[1:-1] + plain[2:]) / 4
    assert np.allclose(smoothed[1:-1], expected, rtol=1e-3)
    # White noise's power fluctuates from frame to frame; averaged over three it spreads less.
    assert np.std(np.log(smoothed)) < 0.8 * np.std(np.log(plain))


def test_the_smoothed_retry_looks_in_stage_ones_candidates_and_counts_as_one_more_look(songs):
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    unknown = media.to_engine_rate(media.synth_song(77, 5))
    counting = _CountingIndex(index)
    engine = Identifier(counting)
    assert engine.identify(unknown) is None
    # As heard (triplets everywhere, pairs in the candidates), smoothed in the same candidates,
    # then the speeds (triplets everywhere, pairs in their candidates).
    assert [tracks is None for _, tracks in counting.calls] == [True, False, False, True, False]
    (_, candidates), (smoothed, smoothed_in) = counting.calls[1:3]
    assert np.array_equal(np.sort(smoothed_in), np.sort(candidates))
    assert engine.smoothed_retry_params == replace(fp.QUERY_SMOOTHED, triplet_fan_out=6)
    expected = fp.fingerprint(unknown, engine.smoothed_retry_params).hashes
    assert np.array_equal(np.unique(smoothed), np.unique(expected))
    # A clip decided as heard carries the bound of six looks (as heard, smoothed, four speeds).
    clip = songs[3][8 * RATE : 13 * RATE]
    with_retry = Identifier(index).identify(clip)
    without = Identifier(index, smoothed_params=None).identify(clip)
    assert with_retry is not None and without is not None and with_retry.track_id == without.track_id == 3
    assert with_retry.log10_p == pytest.approx(without.log10_p + np.log10(6 / 5))


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
                clip = _add_noise(x[start : start + length_s * RATE], snr_db, 100 * track_id + k)
                for name, engine in engines.items():
                    match = engine.identify(clip)
                    assert match is None or match.track_id == track_id, (name, track_id, start_s, snr_db)
                    right[name] += match is not None
    assert right["smoothed retry"] >= right["as heard only"] + 4, right


def test_unrelated_music_noise_and_silence_are_no_match(engine):
    for seed in range(100, 130):
        clip = media.to_engine_rate(media.synth_song(seed, 6))
        assert engine.identify(clip) is None, f"unrelated song {seed} matched"
    rng = np.random.default_rng(0)
    assert engine.identify(rng.standard_normal(5 * RATE).astype(np.float32) * 0.3) is None
    silence = np.zeros(5 * RATE, np.float32)
    assert len(fp.fingerprint(silence, fp.QUERY)) == 0
    assert engine.identify(silence) is None


def test_confidence_is_a_calibrated_bound():
    # No votes at all -> no match; a weak chance alignment stays far below the threshold.
    hits = matching.Hits(
        hashes=np.array([1, 2, 3], np.int32),
        track_ids=np.array([1, 1, 2], np.int64),
        db_offsets=np.array([10, 500, 40], np.int32),
        query_offsets=np.array([0.0, 3.0, 9.0], np.float32),
    )
    assert matching.best_match(matching.Hits.empty(), 100, {1: 1000}) is None
    assert matching.best_match(hits, 100, {1: 5000, 2: 5000}) is None
    # Thirty distinct anchors on one difference against a sparse background is a match.
    aligned = matching.Hits(
        hashes=np.arange(30, dtype=np.int32),
        track_ids=np.full(30, 9, np.int64),
        db_offsets=(np.arange(30) * 5 + 1000).astype(np.int32),
        query_offsets=(np.arange(30) * 5.0).astype(np.float32),
    )
    match = matching.best_match(aligned, 200, {9: 5000})
    assert match is not None and match.track_id == 9 and match.offset_frames == 1000
    assert match.confidence > 1 - 1e-9


def test_timeline_lists_each_song_in_order(engine, songs):
    gap = np.zeros(3 * RATE, np.float32)
    parts = [songs[2][5 * RATE : 25 * RATE], gap, songs[6][30 * RATE : 45 * RATE], gap, songs[8][0 : 20 * RATE]]
    recording = np.concatenate(parts)
    chunks = (recording[i : i + 60000] for i in range(0, recording.size, 60000))
    found = engine.timeline(chunks)
    segments = found.segments
    assert found.total_frames == pytest.approx(recording.size / 256, abs=2) and found.hashes > 1000
    assert [s.track_id for s in segments] == [2, 6, 8]
    expected = [(0, 20), (23, 38), (41, 61)]
    for segment, (start, end) in zip(segments, expected, strict=True):
        assert abs(fp.frames_to_seconds(segment.start_frame) - start) <= 1.0
        assert abs(fp.frames_to_seconds(segment.end_frame) - end) <= 1.0
    assert abs(fp.frames_to_seconds(segments[1].offset_frames) - 30) <= 1.0


def test_engine_does_not_import_django():
    code = (
        "import sys; import recognition.engine.fingerprint, recognition.engine.matching, recognition.engine.identify, "
        "recognition.engine.memory, recognition.engine.audio, recognition.engine.arrays; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_merging_keeps_each_hash_and_offset_once_in_time_then_value_order():
    a = fp.Fingerprints(np.array([7, -3, 7, 2**31 - 1], np.int32), np.array([2.5, 2.5, 0.0, 2.5], np.float32), 0)
    b = fp.Fingerprints(np.array([-3, -(2**31), 7], np.int32), np.array([2.5, 10.0, 2.0], np.float32), 0)
    merged = fp.merge_fingerprints([a, b], 42)
    assert merged.hashes.dtype == np.int32 and merged.offsets.dtype == np.float32 and merged.n_frames == 42
    assert list(zip(merged.offsets.tolist(), merged.hashes.tolist(), strict=True)) == [
        (0.0, 7), (2.0, 7), (2.5, -3), (2.5, 7), (2.5, 2**31 - 1), (10.0, -(2**31)),
    ]  # fmt: skip
    assert len(fp.merge_fingerprints([], 0)) == 0


def test_moving_a_fast_clips_peaks_back_to_normal_speed_recovers_its_hashes(songs):
    clip = songs[3][10 * RATE : 20 * RATE]
    stored = set(fp.fingerprint(clip).split()[0].hashes.tolist())
    fast = fp.constellation(media.played_faster(clip, 1.02), fp.QUERY)

    def found(speed):
        return len(stored & set(fp.hash_constellation(fast, fp.QUERY, speed).hashes.tolist())) / len(stored)

    assert found(1 / 1.02) > 0.75 and found(1 / 1.02) > 4 * found(1.0)
    assert found(1.02) < found(1.0)  # the wrong way moves them further
    assert fp.hash_constellation(fast, fp.QUERY, 1 / 1.02).n_frames == pytest.approx(fast.n_frames * 1.02, abs=1)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint64])
def test_distinct_gives_what_numpy_unique_gives(dtype):
    rng = np.random.default_rng(7)
    for size in (0, 1, 2, 50, 5000):
        values = rng.integers(0, 300, size).astype(dtype) * dtype(2**20 if dtype != np.int32 else 1)
        found = arrays.distinct(values)
        assert found.dtype == values.dtype and np.array_equal(found, np.unique(values))
    ordered = np.array([3, 3, 5, 9, 9, 9])
    assert arrays.run_starts(ordered).tolist() == [0, 2, 3] and arrays.run_starts(ordered[:0]).size == 0


def test_join_hits_pairs_each_row_with_every_occurrence_of_its_hash():
    rng = np.random.default_rng(5)
    query_hashes = rng.integers(-20, 20, 300).astype(np.int32)  # repeats, negatives
    query_offsets = rng.random(300).astype(np.float32) * 100
    db_hashes = rng.integers(-30, 30, 500).astype(np.int32)  # some the query lacks
    db_tracks = rng.integers(1, 9, 500)
    db_offsets = rng.integers(0, 1000, 500).astype(np.int32)
    hits = matching.join_hits(query_hashes, query_offsets, db_hashes, db_tracks, db_offsets)
    by_hand = sorted(
        (int(h), int(t), int(o), float(q))
        for h, t, o in zip(db_hashes, db_tracks, db_offsets, strict=True)
        for qh, q in zip(query_hashes, query_offsets, strict=True)
        if qh == h
    )
    joined = zip(hits.hashes, hits.track_ids, hits.db_offsets, hits.query_offsets, strict=True)
    assert len(by_hand) > 1000 and sorted((int(h), int(t), int(o), float(q)) for h, t, o, q in joined) == by_hand
    assert len(matching.join_hits(query_hashes[:0], query_offsets[:0], db_hashes, db_tracks, db_offsets)) == 0


def test_isin_sorted_gives_what_numpy_isin_gives():
    """Both ways it answers: a table over a narrow span (pairs), binary search over a wide one
    (triplets fill int32), values either side of the span included."""
    rng = np.random.default_rng(3)
    narrow = rng.integers(-50, 50, 400)
    wide = np.concatenate([rng.integers(-(2**31), 2**31, 400), [-(2**31), 2**31 - 1, -51, 60]]).astype(np.int32)
    for values, low, high in ((narrow, -60, 60), (wide, -(2**31), 2**31)):
        for size in (0, 1, 40):
            ordered = np.unique(rng.integers(low, high, size).astype(values.dtype))
            ordered = np.unique(np.concatenate([ordered, values[: size // 4]]))  # some hits for sure
            assert np.array_equal(arrays.isin_sorted(values, ordered), np.isin(values, ordered))


def test_rank_in_runs_counts_from_each_runs_start():
    assert arrays.rank_in_runs(np.array([4, 4, 4, 1, 7, 7, 4])).tolist() == [0, 1, 2, 0, 0, 1, 0]
    assert arrays.rank_in_runs(np.array([], np.int64)).size == 0


def _ranked_by_hand(hits: matching.Hits, tol: int, per_frame: int) -> dict[int, tuple[float, int]]:
    """Each track's (best difference in frames, score) by the definition, one track and one cell
    (1 / per_frame of a frame) at a time."""
    diffs = np.rint((hits.db_offsets - hits.query_offsets) * per_frame).astype(int)
    ranked = {}
    for track in sorted(set(hits.track_ids.tolist())):
        mine = hits.track_ids == track
        events = set(zip(diffs[mine].tolist(), hits.db_offsets[mine].tolist(), strict=True))
        rows_at: dict[int, set[int]] = {}
        for diff, row in events:
            rows_at.setdefault(diff, set()).add(row)

        window = {d: sum(len(rows_at.get(d + k, ())) for k in range(-tol, tol + 1)) for d in rows_at}
        best = min(rows_at, key=lambda d: (-window[d], d))
        ranked[track] = best / per_frame, len({row for diff, row in events if abs(diff - best) <= tol})
    return ranked


@pytest.mark.parametrize(
    ("tol", "per_frame", "stored_frames"), [(0, 1, 60), (1, 1, 60), (2, 1, 60), (1, 2, 60), (2, 2, 60), (1, 2, 2**30)]
)
def test_each_tracks_best_window_and_score_are_those_of_the_definition(tol, per_frame, stored_frames):
    # 2**30 frames apart, a vote's (track, difference, row) no longer fits one 63-bit key.
    rng = np.random.default_rng(tol)
    params = matching.MatchParams(cells_per_frame=per_frame, tolerance_cells=tol)
    for _ in range(40):
        n = int(rng.integers(1, 400))
        hits = matching.Hits(
            hashes=np.zeros(n, np.int32),
            track_ids=rng.integers(1, 8, n).astype(np.int64) * 1000,
            db_offsets=rng.choice(rng.integers(0, stored_frames, 60), n).astype(np.int32),
            query_offsets=rng.integers(0, 40, n) + rng.choice([0.0, 0.5], n),
        )
        ranking = matching.rank_tracks(hits, 40, lambda ids: np.full(ids.size, 500), params)
        best = zip(ranking.best_diff.tolist(), ranking.score.tolist(), strict=True)
        found = dict(zip(ranking.track_ids.tolist(), best, strict=True))
        assert found == _ranked_by_hand(hits, tol, per_frame)


@pytest.mark.parametrize("shifts", [1, 2])
def test_the_bound_expects_chance_votes_on_whole_and_half_frames_alike(shifts):
    # Two shifts put a clip's votes on whole and half frames alike: a window of three half
    # frames expects 3/2 of a frame's share of chance votes, and the bound is exact. One shift
    # puts them on whole frames only, where such a window (centred on a voted cell) covers one
    # frame: the same bound then overstates the chance, never understates it.
    rng = np.random.default_rng(shifts)
    length, query_frames = 3000, 150
    params = matching.MatchParams(background_frames=0)
    for _ in range(10):
        chance, aligned = 300, 12
        query = np.r_[rng.integers(0, query_frames, chance), np.arange(aligned)].astype(np.float64)
        stored = np.r_[5000 + 10 * np.arange(chance), 1000 + np.arange(aligned)]  # distinct rows
        if shifts == 2:  # half the votes on half frames, the aligned ones at 1000 and 1000.5
            query += 0.5 * (np.arange(query.size) % 2)
        hits = matching.Hits(
            hashes=np.zeros(query.size, np.int32),
            track_ids=np.full(query.size, 7, np.int64),
            db_offsets=stored.astype(np.int32),
            query_offsets=query,
        )
        ranking = matching.rank_tracks(hits, query_frames, {7: length}, params)
        assert ranking.score[0] == aligned
        assert 2 * float(ranking.best_diff[0]) in (1999, 2000)  # on a voted cell: 999.5 or 1000 frames
        frames = length + query_frames
        bound = np.log10(stats.poisson.sf(aligned - 1, 1.5 * query.size / frames)) + np.log10(2 * frames)
        assert ranking.log10_p[0] == pytest.approx(bound, abs=1e-6)
        if shifts == 1:  # the window covers one whole frame, which expects 1 share, not 3/2
            exact = np.log10(stats.poisson.sf(aligned - 1, query.size / frames)) + np.log10(2 * frames)
            assert ranking.log10_p[0] > exact + 1
