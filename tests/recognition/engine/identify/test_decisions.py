"""The calibrated decisions and their shares of the bound (recognition/engine/identify/decisions.py)."""

from dataclasses import replace

import numpy as np
import pytest

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import TRIPLET_SHARE
from recognition.engine.matching import Votes
from tests import media

RATE = media.ENGINE_RATE
SEEDS = media.SONG_SEEDS


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


def test_one_second_clips_are_decided_on_sketches_when_landmarks_are_too_few(engine, songs):
    landmarks_only = replace(engine, sketches=False)
    answered = {"with sketches": 0, "landmarks only": 0}
    for seed in SEEDS:
        for start_s in (3.3, 17.1, 31.7, 44.9, 52.2):
            clip = songs[seed][int(start_s * RATE) : int((start_s + 1) * RATE)]
            for kind, identifier in (("with sketches", engine), ("landmarks only", landmarks_only)):
                match = identifier.identify(clip)
                assert match is None or match.track_id == seed, (seed, start_s, kind)
                if match is not None:
                    answered[kind] += 1
                    assert abs(match.offset_frames - start_s * fp.REFERENCE.frames_per_second) <= 1.5
    # Synthetic songs leave empty bands in two frames of three (real music: 1 in 7,000), so a
    # second of them gives ~160 bits, not ~480: fewer answers than real music, never wrong ones.
    assert answered["with sketches"] >= answered["landmarks only"] + 10, answered


def test_unrelated_music_noise_and_silence_never_match_on_sketches(engine):
    rng = np.random.default_rng(3)
    for seed in range(200, 230):
        song = media.to_engine_rate(media.synth_song(seed, 8))
        for start_s in (0.5, 3.0, 6.0):
            clip = song[int(start_s * RATE) : int((start_s + 1) * RATE)]
            assert engine.identify(clip) is None, f"unrelated song {seed} at {start_s} s matched"
    for length_s in (1, 2, 5):
        assert engine.identify(rng.standard_normal(length_s * RATE).astype(np.float32) * 0.3) is None
        assert engine.identify(np.zeros(length_s * RATE, np.float32)) is None


def test_a_clip_is_sketched_only_when_its_landmarks_cannot_decide(engine, songs, monkeypatch):
    made = []
    real = sk.query_sketch
    monkeypatch.setattr(
        sk, "query_sketch", lambda samples, *a, **k: made.append(samples.size) or real(samples, *a, **k)
    )
    assert engine.identify(songs[2][10 * RATE : 16 * RATE]).track_id == 2  # 6 s: pairs decide
    assert made == []
    short = next(
        start_s
        for start_s in np.arange(3.0, 50.0, 1.7)
        if replace(engine, sketches=False).identify(songs[2][int(start_s * RATE) : int((start_s + 1) * RATE)]) is None
        and engine.identify(songs[2][int(start_s * RATE) : int((start_s + 1) * RATE)]) is not None
    )
    assert made and made[-1] == RATE, short  # the second the landmarks left undecided was sketched
