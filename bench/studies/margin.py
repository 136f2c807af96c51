"""Calibration check: how close unknown music comes to the false-match threshold, decision by decision.

    .venv/bin/python -m bench.studies.margin --clips 4000
    .venv/bin/python -m bench.studies.margin --clips 4000 --match cells_per_frame=1

Random clips (1, 2, 3 and 5 s, at random offsets, clean or with white noise at +10 dB) of the
benchmark's never-indexed and never-seen tracks are looked up in the catalog's in-memory index,
and each decision (pairs, triplets, sketches) is taken with the threshold off: the smallest bound
each reaches on unknown audio is the margin it keeps below the threshold (1e-7, log10 -7). A clip
whose best alignment holds the same recording as the clip (bench/versions.py: the catalog repeats
some passages across tracks) is a right answer, not a false match: every answer with a bound at
or below 1e-4 is listed with the similarity of the two places, and counted as false only when
they differ.
"""

from __future__ import annotations

import argparse
import ast
from dataclasses import replace

import numpy as np

from bench import OUT, corpus, distortions, versions
from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import PAIR_SHARE, TRIPLET_SHARE, Identifier
from recognition.engine.memory import MemoryIndex

LENGTHS_S = (1, 2, 3, 5)
TESTS = 5  # a clip as heard and its four speed retries, as Identifier.identify counts them
JUDGED_BELOW = -4.0  # answers this strong are checked against the clip's own audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--match", nargs="*", default=[], help="matcher settings (MatchParams), name=value")
    args = parser.parse_args()
    overrides = {key: ast.literal_eval(value) for key, value in (item.split("=") for item in args.match)}

    manifest = corpus.load_or_build(OUT / "corpus.json")
    index = MemoryIndex()
    names = []
    for track_id, item in enumerate(manifest["indexed"]):
        samples = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(samples, fp.REFERENCE), sk.sketch(samples))
        names.append(item["path"])
    engine = Identifier(
        index,
        match_params=replace(matching.DEFAULT_PARAMS, **overrides, max_false_match_rate=1.0),
    )
    unknown = manifest["held_out"] + manifest["foreign"]
    audio = [corpus.decoded(item["path"]) for item in unknown]
    rng = np.random.default_rng(args.seed)
    kinds = ("pairs", "triplets", "sketches")
    best = {(kind, length): [] for kind in kinds for length in LENGTHS_S}
    close = []  # answers at or below JUDGED_BELOW, with the spectrogram similarity of the two places
    for k in range(args.clips):
        which = int(rng.integers(len(unknown)))
        length_s = int(rng.choice(LENGTHS_S))
        start = int(rng.integers(0, audio[which].size - length_s * 8000))
        clip = audio[which][start : start + length_s * 8000].copy()
        if k % 2:
            clip = distortions.add_noise(clip, 10.0, rng).astype(np.float32)
        prints = fp.fingerprint(clip, engine.params)
        votes = engine.votes(prints)
        tracks = engine.index.track_count()
        pair_ranking = engine.rank(votes.pairs, prints.n_frames) if len(votes.pairs) else None
        found = {
            "pairs": matching.best_match(
                votes.pairs, prints.n_frames, engine.index.track_frames, looks=TESTS, tracks=tracks,
                share=PAIR_SHARE, ranking=pair_ranking, params=engine.match_params,
            ),
            "triplets": matching.best_match(
                votes.triplets, prints.n_frames, engine.index.track_frames, looks=TESTS, tracks=tracks,
                share=TRIPLET_SHARE, ranking=votes.triplet_ranking, params=engine.match_params,
            ),
            "sketches": engine.check_sketches(
                sk.query_sketch(clip), votes, pair_ranking=pair_ranking, n_frames=prints.n_frames,
                looks=TESTS, tracks=tracks,
            ),
        }  # fmt: skip
        for kind, match in found.items():
            if match is None or match.log10_p > JUDGED_BELOW:
                best[kind, length_s].append(match.log10_p if match else 0.0)
                continue
            offset_s = float(fp.frames_to_seconds(match.offset_frames))
            clip_path, track = unknown[which]["path"], names[match.track_id]
            similar = versions.similarity(clip_path, start / 8000, track, offset_s, length_s)
            close.append((kind, length_s, clip_path, start / 8000, track, offset_s, match.log10_p, similar))
            best[kind, length_s].append(0.0 if similar >= versions.SAME_RECORDING else match.log10_p)
    print(f"{args.clips} unknown clips (half with white noise at +10 dB); threshold log10 -7")
    print("smallest log10 bound reached on unknown audio (median in brackets):")
    print("decision  " + "".join(f"{length:>14d} s" for length in LENGTHS_S))
    for kind in kinds:
        cells = [np.asarray(best[kind, length]) for length in LENGTHS_S]
        print(f"{kind:9s} " + "".join(f"{c.min():8.2f} ({np.median(c):5.2f})" for c in cells))
    crossed = sum(int((np.asarray(v) <= -7).sum()) for v in best.values())
    print(f"false matches (bound at or below the threshold, not the same recording): {crossed}")
    print(f"answers with a bound at or below 1e{JUDGED_BELOW:g}, judged by bench/versions.py:")
    for kind, length_s, clip_path, clip_s, track, offset_s, log10_p, similar in close:
        verdict = "same recording" if similar >= versions.SAME_RECORDING else "NOT the same recording"
        print(
            f"  {kind} {length_s} s of {clip_path} at {clip_s:.1f} s -> {track} at {offset_s:.1f} s: "
            f"log10 {log10_p:.1f}, similarity {similar:.2f} ({verdict})"
        )


if __name__ == "__main__":
    main()
