"""Study: triplets invariant to speed, pitch and tempo (Panako-style), on the robustness set.

    .venv/bin/python -m bench.studies.invariant_triplets [--per-cell 50] [--unknown 1000]

Would a second family of triplets, looked up only when the plain hashes fail, find clips whose
speed, pitch or tempo changed, without a retry per speed? A triplet of peaks (t1, f1), (t2, f2),
(t3, f3), t1 < t2 < t3, hashed on what none of those changes moves: the ratio of its time gaps
(t2 - t1) / (t3 - t1), and the differences of log-frequency log2(f2 / f1) and log2(f3 / f1).
A tape speed scales every time and frequency, a tempo change the times, a pitch shift the
frequencies: each leaves those three numbers where they were. A match is then a vote over
(track, offset, time factor): the factor is (t3 - t1) in the track over (t3 - t1) in the clip,
and the offset where the clip's middle falls in the track.

This study builds the family for the catalog and the never-seen package (the references' own
peaks, every two of each anchor's three nearest targets) in
memory, and for each clip of the robustness set (bench/queries.py `build_robust`) its triplets
(the query's peaks, every two of each anchor's `--fan-out` nearest targets), looks them up and
votes in two passes: over (track, time factor), then, for the best few, over where the clip's
middle falls in the track with that factor. Its score is the most votes in one offset cell. It
takes no calibrated decision: it reports, per condition and length, the clips whose own track
and offset win with a score above every never-indexed clip's (so at 0 of 1,000 false matches),
the values a 5 s clip looks up and the rows it reads. For choosing, not for quoting:
bench/results/invariant_triplets.json.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from bench import OUT, RESULTS, corpus
from bench import queries as query_set
from bench.studies.robustness import decoded_clips
from recognition.engine import fingerprint as fp
from recognition.engine.fingerprint import hashes as fp_hashes

RESULTS_FILE = RESULTS / "invariant_triplets.json"
ZONE = replace(fp.REFERENCE, triplet_fan_out=None, max_dt_frames=48, max_df_bins=96, min_df_bins=2)
RATIO_LEVELS = 24  # (t2 - t1) / (t3 - t1) in 24 steps
LOG_F_STEP = 1 / 24  # octaves (a quarter tone)
LOG_F_RANGE = 64  # steps each side (2.7 octaves)
OFFSET_CELL = 8  # frames (a quarter second)
FACTOR_CELL = 0.03  # in log time factor (3 %)
MIN_SPAN = 6  # frames: shorter triplets give a time factor too coarse to vote with
REFERENCE_FAN_OUT = 3  # a reference's triplets: every two of each anchor's 3 nearest targets
# A clip's peaks are picked as a reference's are: its nearest targets must be the reference's.
QUERY_PEAKS = replace(fp.REFERENCE, triplet_fan_out=None)
HYPOTHESES = 5  # (track, factor) cells of pass 1 whose offsets pass 2 votes on


def invariant_triplets(frames: np.ndarray, bins: np.ndarray, fan_out: int) -> tuple[np.ndarray, ...]:
    """(hash, t1, span) of every two of each anchor's `fan_out` nearest targets."""
    anchor, target, rank = fp_hashes._zone_pairs(frames, bins, ZONE)
    keep = rank < fan_out
    anchor, target = anchor[keep], target[keep]
    first, second = fp_hashes._triplets(anchor)
    a, b, c = anchor[first], target[first], target[second]
    t1, t2, t3 = frames[a], frames[b], frames[c]
    span = t3 - t1
    lf = np.log2(np.maximum(bins, 1.0))
    d1 = np.rint((lf[b] - lf[a]) / LOG_F_STEP).astype(np.int64)
    d2 = np.rint((lf[c] - lf[a]) / LOG_F_STEP).astype(np.int64)
    ratio = np.minimum(np.floor((t2 - t1) / np.maximum(span, 1e-6) * RATIO_LEVELS), RATIO_LEVELS - 1).astype(np.int64)
    ok = (span >= MIN_SPAN) & (np.abs(d1) < LOG_F_RANGE) & (np.abs(d2) < LOG_F_RANGE)
    packed = (ratio * (2 * LOG_F_RANGE) + d1 + LOG_F_RANGE) * (2 * LOG_F_RANGE) + d2 + LOG_F_RANGE
    return packed[ok], t1[ok].astype(np.float64), span[ok].astype(np.float64)


class InvariantIndex:
    """Sorted (hash, track, t1, span) rows, looked up with a binary search."""

    def __init__(self, tracks: dict[int, np.ndarray]) -> None:
        parts = []
        for track_id, x in tracks.items():
            frames, bins, _, _ = fp.constellation(x, fp.REFERENCE).peaks[0]
            h, t1, span = invariant_triplets(frames, bins, REFERENCE_FAN_OUT)
            parts.append((h, np.full(h.size, track_id), t1, span))
        h, track, t1, span = (np.concatenate(p) for p in zip(*parts, strict=True))
        order = np.argsort(h, kind="stable")
        self.hashes, self.tracks, self.t1, self.span = h[order], track[order], t1[order], span[order]

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, ...]:
        """(query row, track, t1, span) of every stored row of each query hash."""
        lo = np.searchsorted(self.hashes, hashes, "left")
        hi = np.searchsorted(self.hashes, hashes, "right")
        counts = hi - lo
        owner = np.repeat(np.arange(hashes.size), counts)
        rows = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        return owner, self.tracks[rows], self.t1[rows], self.span[rows]


def score_clip(index: InvariantIndex, x: np.ndarray, fan_out: int) -> dict:
    """The clip's best (track, time factor, offset): votes first over (track, factor), then, for
    the few best of those, over where the clip's middle falls, projected with that factor."""
    frames, bins, _, _ = fp.constellation(x, QUERY_PEAKS).peaks[0]
    h, t1, span = invariant_triplets(frames, bins, fan_out)
    owner, track, ref_t1, ref_span = index.lookup(h)
    result = {"values": int(np.unique(h).size), "rows": int(owner.size), "score": 0, "track": None}
    log_factor = np.log(ref_span / span[owner])  # track time per clip time: > 0 for a fast clip
    plausible = np.abs(log_factor) < np.log(1.35)
    owner, track, ref_t1, log_factor = owner[plausible], track[plausible], ref_t1[plausible], log_factor[plausible]
    if owner.size == 0:
        return result
    middle = float(frames.max()) / 2
    # Pass 1: (track, factor), each vote also in the next factor cell, so an edge splits nothing.
    cell = np.floor(log_factor / FACTOR_CELL).astype(np.int64)
    pairs = np.concatenate([np.stack([track, cell], 1), np.stack([track, cell - 1], 1)])
    keys, counts = np.unique(pairs, axis=0, return_counts=True)
    best_score, best = 0, None
    for k in np.argsort(-counts)[:HYPOTHESES]:
        track_id, factor_cell = keys[k]
        near = (track == track_id) & ((cell == factor_cell) | (cell == factor_cell + 1))
        factor = float(np.exp(np.median(log_factor[near])))
        # Pass 2: where the clip's middle falls in the track, each query row voting once.
        at = ref_t1[near] + (middle - t1[owner[near]]) * factor
        offset_cells = np.floor(at / OFFSET_CELL).astype(np.int64)
        votes = np.concatenate([offset_cells, offset_cells - 1])
        values, n = np.unique(votes, return_counts=True)
        if n.max() > best_score:
            best_score = int(n.max())
            best = (int(track_id), float((values[np.argmax(n)] + 1) * OFFSET_CELL), factor)
    if best is not None:
        result.update(
            score=best_score,
            track=best[0],
            middle_s=fp.frames_to_seconds(best[1]),
            factor=best[2],
            clip_middle_s=fp.frames_to_seconds(middle),
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fan-out", type=int, default=5, help="query triplets from each anchor's N nearest targets")
    parser.add_argument("--dry", action="store_true")
    args = parser.parse_args()

    raw = corpus.load_or_build(OUT / "corpus.json")
    manifest = query_set.robust_manifest(raw)
    queries = query_set.build_robust(raw, OUT / "queries_robust", 50, 1000)
    clips = decoded_clips(queries)
    names = {track_id: item["path"] for track_id, item in enumerate(manifest["indexed"])}
    started = time.perf_counter()
    index = InvariantIndex({t: corpus.decoded(p) for t, p in names.items()})
    seconds = sum(item["duration_s"] for item in manifest["indexed"])
    elapsed = time.perf_counter() - started
    print(f"index: {index.hashes.size} rows, {index.hashes.size / seconds:.1f} a second ({elapsed:.0f} s)")
    answers = []
    for number, q in enumerate(queries, 1):
        found = score_clip(index, clips[q.id].astype(np.float32) / 32767, args.fan_out)
        place_ok = False
        if found["track"] is not None and names[found["track"]] == q.source:
            truth_factor = query_set.source_factor(q.condition)
            expected = q.start_s + found["clip_middle_s"] * truth_factor
            place_ok = abs(found["middle_s"] - expected) < 1.0
        answers.append({"q": q, **found, "right": place_ok})
        if number % 500 == 0:
            print(f"{number}/{len(queries)}", flush=True)
    unknown_top = max(a["score"] for a in answers if a["q"].kind != "known")
    cells: dict[str, dict[str, list[bool]]] = {}
    for a in answers:
        q = a["q"]
        if q.kind == "known":
            cells.setdefault(q.condition, {}).setdefault(f"{q.length_s:g}", []).append(
                a["right"] and a["score"] > unknown_top
            )
    values_5s = [a["values"] for a in answers if a["q"].length_s == 5]
    rows_5s = [a["rows"] for a in answers if a["q"].length_s == 5]
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "fan_out": args.fan_out,
        "rows_per_audio_s": index.hashes.size / seconds,
        "unknown_top_score": unknown_top,
        "unknown_clips": sum(a["q"].kind != "known" for a in answers),
        "accuracy": {c: {n: 100.0 * np.mean(v) for n, v in by.items()} for c, by in cells.items()},
        "values_5s": {"p50": float(np.median(values_5s)), "p95": float(np.percentile(values_5s, 95))},
        "rows_5s": {"p50": float(np.median(rows_5s)), "p95": float(np.percentile(rows_5s, 95))},
    }
    print(json.dumps(report, indent=1))
    if not args.dry:
        RESULTS_FILE.write_text(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
