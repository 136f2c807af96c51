"""Study: which clips need the denser look, told from how near the clip as heard came to a match.

    .venv/bin/python -m bench.studies.dense_gate [--per-cell 50] [--unknown 1000]

A clip that fails as heard and smoothed takes the denser look (Identifier.dense_params), a lookup
of ~12,500 triplet values in every track; at 10^8 triplet rows it is a quarter of a never-indexed
clip's time (bench/results/studies/stages_3e8_dense_look.txt). The clips it answers are music
under a voice or another song, whose peaks were partly there as heard; a never-indexed clip's
votes are chance's. This study takes every clip of the robustness set (bench/studies/robustness.py:
the never-seen package indexed beside the catalog, in memory) through the engine twice, clip by
clip: with the denser look always taken and never taken (the bound counting it in both), and
records how near the clip as heard came to a match (`nearest`). Results (every clip) in
bench/results/dense_gate.json; the `dense_gate` report block counts, for each gate (take the look
only when that nearness is at or below it), the answers as the engine with that gate gives them
(the always answer where the look is taken, the never answer where not) and the never-indexed
clips that would take the look.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench import OUT, RESULTS, ROOT, corpus, versions
from bench import queries as query_set
from bench.report import blocks
from bench.report.render import Page, Results
from bench.studies import robustness
from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.identify import Identifier, decisions
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "dense_gate.json"
GATES = (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)


class WithoutDenseLook(Identifier):
    """The engine with the denser look never taken, its decisions still counting it in the bound."""

    def __init__(self, index: MemoryIndex) -> None:
        super().__init__(index, dense_params=None)

    def retry_tiers(self, *, times: int = 1, smoothed: bool = True, dense: bool = False, prior_looks: int = 0):
        return super().retry_tiers(times=times, smoothed=smoothed, dense=True, prior_looks=prior_looks)


def nearest(engine: Identifier, x: np.ndarray) -> float:
    """How near the clip as heard came to a match: the smallest false-match bound (log10,
    corrected as decisions.decide corrects it, not capped at 0) of the best track on pairs and on
    triplets; 0 or more is what chance gives."""
    looks, _ = engine.retry_tiers(smoothed=engine.smoothed_params is not None, dense=engine.dense_params is not None)
    clip = fp.fingerprint(x, engine.params)
    votes = engine.votes(clip)
    tracks = engine.index.track_count()
    found = float("inf")
    kinds = ((votes.pairs, decisions.PAIR_SHARE), (votes.triplets, decisions.TRIPLET_SHARE))
    for hits, share in kinds:
        if len(hits):
            ranking = matching.rank_tracks(hits, clip.n_frames, engine.index.track_frames, engine.match_params)
            correction = np.log10(max(ranking.track_ids.size, tracks) * looks / share)
            found = min(found, float(ranking.log10_p.min() + correction))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cell", type=int, default=50)
    parser.add_argument("--unknown", type=int, default=1000)
    parser.add_argument("--conditions", default=",".join(query_set.ROBUST_CONDITIONS))
    args = parser.parse_args()

    manifest = query_set.robust_manifest(corpus.load_or_build(OUT / "corpus.json"))
    every = query_set.build_robust(corpus.load_or_build(OUT / "corpus.json"), OUT / "queries_robust", 50, 1000)
    queries = robustness.selected(every, set(args.conditions.split(",")), args.per_cell, args.unknown)
    clips = robustness.decoded_clips(every)
    index, names = robustness.load_index(manifest)
    always = Identifier(index)
    never = WithoutDenseLook(index)
    rows = []
    for number, q in enumerate(queries, 1):
        x = clips[q.id].astype(np.float32) / 32767
        row = {"condition": q.condition if q.kind == "known" else "unknown", "length": q.length_s}
        row["nearest"] = round(nearest(always, x), 3)
        arms = [("always", always), ("never", never)]
        for arm, engine in arms if number % 2 else arms[::-1]:
            started = time.perf_counter()
            match = engine.identify(x)
            row[f"{arm}_ms"] = round(1000 * (time.perf_counter() - started), 1)
            found = names.get(match.track_id) if match else None
            right = found is not None and versions.same_recording(
                q.source, q.start_s, found, fp.frames_to_seconds(match.offset_frames) if match else None, q.length_s
            )
            row[arm] = "right" if right else ("wrong" if found is not None else "none")
        rows.append(row)
        if number % 200 == 0:
            print(f"{number}/{len(queries)}", flush=True)
    RESULTS_FILE.write_text(
        json.dumps({"when": time.strftime("%Y-%m-%d %H:%M"), "gates": GATES, "clips": rows}, separators=(",", ":"))
    )
    print(blocks.dense_gate(Page(ROOT / "docs" / "decisions.md", Results())))


if __name__ == "__main__":
    main()
