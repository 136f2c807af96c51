"""Study of speeds as heard and of long inputs at other speeds (issue 38): a match's speed measured
from its votes' drift, and a timeline's windows retried at other speeds.

    .venv/bin/python -m bench.studies.timeline_speeds
    .venv/bin/python -m bench.studies.timeline_speeds --part clips --per-cell 20

Against the robustness set's in-memory index (bench/studies/robustness.py: the catalog and the
never-seen package, `hyperrogue-music`, music no setting was chosen on; cached as
bench/out/robust_index.pkl when the lead's run left it there), two parts, each engine run side by
side with its baseline in the same run:

* clips: every clip twice, its speed measured from its votes' drift or not (`measure_speed`).
  Clips of the never-seen package made here at 2-2.5 % fast or slow (and as recorded: no change
  may be reported), which often match as heard, with the engine as it is; and the robustness
  set's speed and tempo cells (+-5..25 % speeds, +-10 % tempos) with the wide tier on
  (robustness.py `ARMS["wide-all-screen"]`). Per cell: right answers, and of them those whose
  speed is within 1 % of the clip's and those whose reported change (changes.py) says it.
* timelines: inputs of 60 s made here, 50 s of a never-seen track between 5 s of never-indexed
  music, all played at one speed (as recorded, 2 % fast and slow, 10 % fast and slow, 25 %
  fast), and 60 s of never-indexed music at speeds from -20 to +25 %; each through
  `Identifier.timeline` with no retry and no measured speed (the engine before), with the near
  speeds (the engine as it is) and with the wide tier. Per speed: inputs whose track was found,
  found right (its place in the track within 1.5 s, its time range within a window of the truth),
  with the speed within 1 % and its change reported; segments naming any other track on known
  and on never-indexed inputs (a segment counts as false unless it holds the same recording,
  bench/versions.py); the engine's CPU seconds a minute of input, and the distinct values a
  minute of input looks up in every track (stage 1, as heard and retried: the work that grows
  with the catalog).

Results go to bench/results/timeline_speeds.json; docs/decisions.md quotes them through the
`timeline_speeds` report block (`make report`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from fractions import Fraction

import numpy as np
from scipy import signal

from bench import OUT, RESULTS, corpus, versions
from bench import queries as query_set
from bench.studies import robustness
from recognition.engine import arrays, matching
from recognition.engine import fingerprint as fp
from recognition.engine.identify import Identifier
from recognition.engine.matching import drift
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "timeline_speeds.json"
INDEX_CACHE = OUT / "robust_index.pkl"
RATE = fp.QUERY.sample_rate_hz
NEAR_SPEEDS = (0.975, 0.98, 1.0, 1.02, 1.025)
CLIP_LENGTHS_S = (3, 5, 10)
TIMELINE_SPEEDS = (1.0, 1.02, 0.98, 1.1, 0.9, 1.25)
UNKNOWN_SPEEDS = (1.0, 1.02, 0.98, 1.1, 0.9, 1.25, 0.8, 1.05, 0.95, 1.15)
INPUT_S, PAD_S = 60.0, 5.0
WIDE = robustness.ARMS["wide-all-screen"]


def played_at(x: np.ndarray, speed: float) -> np.ndarray:
    """`x` played `speed` times as fast (pitch and tempo together, as a tape runs)."""
    ratio = Fraction(1 / speed).limit_denominator(400)
    return signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


def load_index(manifest: dict) -> tuple[MemoryIndex, dict[int, str]]:
    """The robustness set's index, from the cache when it is there (built as robustness.py does)."""
    if INDEX_CACHE.exists():
        return pickle.loads(INDEX_CACHE.read_bytes())  # noqa: S301 (our own cache, in bench/out)
    return robustness.build_index(manifest)


def _judge_clip(match: matching.Match | None, names: dict[int, str], source: str, start_s: float, length_s: float,
                speed: float) -> tuple[bool, bool, bool, bool]:  # fmt: skip
    """(right, speed within 1 %, change reported as it is, found with speed exactly 1: as heard)."""
    found = names.get(match.track_id) if match else None
    if match is None or found is None:
        return False, False, False, False
    right = versions.same_recording(source, start_s, found, fp.frames_to_seconds(match.offset_frames), length_s)
    close = abs(match.speed / speed - 1) <= 0.01
    change = match.change.speed
    said = (change is None) if abs(speed - 1) < 0.01 else (change is not None and abs(change / speed - 1) <= 0.01)
    return right, right and close, right and said, right and match.speed == 1.0


def clips_part(index: MemoryIndex, names: dict[int, str], manifest: dict, per_cell: int, seed: int) -> dict:
    """Part one: near speeds made here, and the robustness set's speed and tempo cells."""
    rng = np.random.default_rng(seed)
    never_tuned = manifest["foreign"]
    engines = {
        "near": (Identifier(index, measure_speed=False), Identifier(index)),
        "wide": (Identifier(index, measure_speed=False, **WIDE), Identifier(index, **WIDE)),
    }
    cells: dict[str, dict[str, list]] = {}

    def run(arm: str, cell: str, x: np.ndarray, source: str, start_s: float, length_s: float, speed: float) -> None:
        row = []
        for engine in engines[arm]:
            started = time.process_time()  # CPU time: the machine is shared, the engine uses one core
            match = engine.identify(x)
            row.append((*_judge_clip(match, names, source, start_s, length_s, speed), time.process_time() - started))
        cells.setdefault(f"{arm}/{cell}", {}).setdefault(f"{length_s:g}", []).append(row)

    for speed in NEAR_SPEEDS:
        for length_s in CLIP_LENGTHS_S:
            for _ in range(per_cell):
                item = never_tuned[int(rng.integers(len(never_tuned)))]
                x = corpus.decoded(item["path"])
                span = length_s * speed + 0.5
                start_s = float(rng.uniform(0, max(0.0, x.size / RATE - span - 0.5)))
                clip = played_at(x[int(start_s * RATE) : int((start_s + span) * RATE)], speed)[: int(length_s * RATE)]
                run("near", f"speed{100 * (speed - 1):+g}", clip, item["path"], start_s, length_s, speed)
    every = query_set.build_robust(manifest, OUT / "queries_robust", 50, 1000)
    changed = [q for q in every if q.kind == "known" and q.condition in {**query_set.ROBUST_SPEEDS, **query_set.TEMPOS}]
    clips = robustness.decoded_clips(changed)
    taken: dict[tuple[str, float], int] = {}
    for q in changed:
        if taken.get((q.condition, q.length_s), 0) >= per_cell:
            continue
        taken[(q.condition, q.length_s)] = taken.get((q.condition, q.length_s), 0) + 1
        speed, _ = robustness._truth(q.condition)
        run("wide", q.condition, clips[q.id].astype(np.float32) / 32767, q.source, q.start_s, q.length_s, speed)
    print(f"clips: {sum(len(v) for by in cells.values() for v in by.values())}", flush=True)
    return {
        cell: {
            length: {
                "clips": len(rows),
                **{
                    f"{kind}_{when}": 100.0 * float(np.mean([row[k][n] for row in rows]))
                    for n, kind in enumerate(("right", "speed_within_1pct", "change_said", "speed_exactly_1"))
                    for k, when in enumerate(("before", "after"))
                },
                "cpu_ms_before": 1000 * float(np.median([row[0][4] for row in rows])),
                "cpu_ms_after": 1000 * float(np.median([row[1][4] for row in rows])),
            }
            for length, rows in by.items()
        }
        for cell, by in cells.items()
    }


# The drift measure's confidence settings swept (matching/drift.py): (MIN_DRIFT_VOTES, MAX_SPEED_ERROR).
SWEEP = ((20, 0.0015), (12, 0.0015), (8, 0.0015), (20, 0.0025), (12, 0.0025), (8, 0.0025))


def sweep_part(index: MemoryIndex, names: dict[int, str], manifest: dict, per_cell: int, seed: int) -> list[dict]:
    """The drift measure's settings swept on short clips (3 and 5 s, where the votes are fewest)
    of the never-seen package, 2-2.5 % fast or slow and as recorded: per setting, right answers
    whose speed is within 1 %, and right answers to clips as recorded that reported a change."""
    rng = np.random.default_rng(seed + 1)
    made = []
    for speed in (*NEAR_SPEEDS, 1.0, 1.0):  # as recorded three times over: false changes are rare
        for length_s in (3, 5):
            for _ in range(per_cell):
                item = manifest["foreign"][int(rng.integers(len(manifest["foreign"])))]
                x = corpus.decoded(item["path"])
                span = length_s * speed + 0.5
                start_s = float(rng.uniform(0, max(0.0, x.size / RATE - span - 0.5)))
                clip = played_at(x[int(start_s * RATE) : int((start_s + span) * RATE)], speed)[: int(length_s * RATE)]
                made.append((speed, length_s, item["path"], clip))
    engine = Identifier(index)
    kept = (drift.MIN_DRIFT_VOTES, drift.MAX_SPEED_ERROR)
    results = []
    try:
        for votes, error in SWEEP:
            drift.MIN_DRIFT_VOTES, drift.MAX_SPEED_ERROR = votes, error
            counts = {"changed_right": 0, "changed_within_1pct": 0, "recorded_right": 0, "recorded_change_said": 0}
            for speed, _, path, clip in made:
                match = engine.identify(clip)
                if match is None or names.get(match.track_id) != path:
                    continue
                if speed == 1.0:
                    counts["recorded_right"] += 1
                    counts["recorded_change_said"] += match.change.speed is not None
                else:
                    counts["changed_right"] += 1
                    counts["changed_within_1pct"] += abs(match.speed / speed - 1) <= 0.01
            results.append({"min_drift_votes": votes, "max_speed_error": error, **counts})
            print(votes, error, counts, flush=True)
    finally:
        drift.MIN_DRIFT_VOTES, drift.MAX_SPEED_ERROR = kept
    return results


def _inputs(manifest: dict, per_speed: int, seed: int) -> list[dict]:
    """The long inputs: a never-seen track's 50 s between never-indexed music, and never-indexed music alone."""
    rng = np.random.default_rng(seed)
    held_out = [item for item in manifest["held_out"] if item["duration_s"] > 3 * INPUT_S]
    inputs = []
    for k in range(per_speed * len(TIMELINE_SPEEDS)):
        speed = TIMELINE_SPEEDS[k % len(TIMELINE_SPEEDS)]
        length = INPUT_S - 2 * PAD_S
        fits = [item for item in manifest["foreign"] if item["duration_s"] > length * speed + 2]
        item = fits[int(rng.integers(len(fits)))]
        start_s = float(rng.uniform(0, item["duration_s"] - length * speed - 1.5))
        other = held_out[int(rng.integers(len(held_out)))]
        other_s = float(rng.uniform(0, other["duration_s"] - 2 * PAD_S * speed - 2))
        inputs.append({
            "kind": "known", "speed": speed, "source": item["path"], "start_s": start_s,
            "parts": [(other["path"], other_s, PAD_S), (item["path"], start_s, length),
                      (other["path"], other_s + PAD_S * speed + 0.5, PAD_S)],
        })  # fmt: skip
    for k in range(len(UNKNOWN_SPEEDS)):
        speed = UNKNOWN_SPEEDS[k]
        other = held_out[k % len(held_out)]
        other_s = float(rng.uniform(0, other["duration_s"] - INPUT_S * speed - 1))
        inputs.append({"kind": "unknown", "speed": speed, "source": other["path"], "start_s": other_s,
                       "parts": [(other["path"], other_s, INPUT_S)]})  # fmt: skip
    return inputs


def _audio(spec: dict) -> np.ndarray:
    """An input's samples: each part cut from its track at the input's speed, end to end."""
    speed = spec["speed"]
    parts = []
    for path, start_s, length_s in spec["parts"]:
        x = corpus.decoded(path)
        cut = x[int(start_s * RATE) : int((start_s + length_s * speed + 0.5) * RATE)]
        parts.append(played_at(cut, speed)[: int(length_s * RATE)])
    return np.concatenate(parts)


def _judge_input(spec: dict, segments: list[matching.Segment], names: dict[int, str]) -> dict:
    """What a timeline found in an input (module docstring). The input's own track may come out
    as several segments where it repeats itself (a loop matched at its other turn): each is right
    when it holds the input's audio (its place in the track within 1.5 s of the truth, or the
    same audio there, bench/versions.py), and together they must span the track's 50 s."""
    speed = spec["speed"]
    judged = {"found": False, "right": False, "speed_within_1pct": False, "change_said": False, "false": 0}
    own = []
    for segment in segments:
        answer = names.get(segment.track_id, "")
        first_s = fp.frames_to_seconds(segment.start_frame)
        offset_s = fp.frames_to_seconds(segment.offset_frames)
        length_s = max(1.0, min(5.0, fp.frames_to_seconds(segment.end_frame - segment.start_frame)))
        if spec["kind"] == "known" and answer == spec["source"]:
            truth_s = spec["start_s"] + (first_s - PAD_S) * speed
            holds = abs(offset_s - truth_s) <= 1.5 or (
                versions.similarity(answer, max(truth_s, 0.0), answer, offset_s, length_s) >= versions.SAME_RECORDING
            )
            own.append((segment, holds))
            continue
        # Any other answer is false unless it holds the input's own audio there (bench/versions.py),
        # compared between the two tracks as recorded.
        ends = np.cumsum([part_s for _, _, part_s in spec["parts"]])
        n = min(int(np.searchsorted(ends, first_s, side="right")), len(ends) - 1)
        path, start_s, part_s = spec["parts"][n]
        own_s = start_s + max(first_s - (ends[n] - part_s), 0.0) * speed
        if not versions.same_recording(path, own_s, answer, offset_s, length_s):
            judged["false"] += 1
    if own:
        judged["found"] = True
        first = min(fp.frames_to_seconds(s.start_frame) for s, _ in own)
        last = max(fp.frames_to_seconds(s.end_frame) for s, _ in own)
        right = all(holds for _, holds in own) and abs(first - PAD_S) <= 6.0 and abs(last - (INPUT_S - PAD_S)) <= 6.0
        judged["right"] = right
        judged["speed_within_1pct"] = right and all(abs(s.speed / speed - 1) <= 0.01 for s, _ in own)
        said = [s.change.speed for s, _ in own]
        judged["change_said"] = right and all(
            (c is None) if speed == 1.0 else (c is not None and abs(c / speed - 1) <= 0.01) for c in said
        )
        judged["segments"] = len(own)
    return judged


def counting_lookups(index: MemoryIndex) -> list[int]:
    """Make `index` count the distinct values each lookup in every track asks (stage 1: the work
    that grows with the catalog) into the list it returns, `[0]`, to reset and read between runs;
    `del index.lookup` undoes it."""
    plain_lookup = type(index).lookup.__get__(index)
    values = [0]

    def counted(hashes: np.ndarray, tracks: np.ndarray | None = None):
        if tracks is None:
            values[0] += arrays.distinct(np.asarray(hashes)).size
        return plain_lookup(hashes, tracks)

    index.lookup = counted  # type: ignore[method-assign]
    return values


def timelines_part(index: MemoryIndex, names: dict[int, str], manifest: dict, per_speed: int, seed: int) -> dict:
    """Part two: long inputs through each engine's timeline."""
    engines = {
        "before": Identifier(index, speed_variants=(), measure_speed=False),
        "near": Identifier(index),
        "wide": Identifier(index, **WIDE),
    }
    rows: dict[str, list[tuple[dict, dict, float, int]]] = {arm: [] for arm in engines}
    values = counting_lookups(index)
    for number, spec in enumerate(_inputs(manifest, per_speed, seed), 1):
        x = _audio(spec)
        minutes = x.size / RATE / 60
        for arm, engine in engines.items():
            values[0] = 0
            # CPU time: the machine is shared, and the engine runs on one core.
            started = time.process_time()
            found = engine.timeline(iter([x[i : i + 60000] for i in range(0, x.size, 60000)]))
            seconds = time.process_time() - started
            verdict = _judge_input(spec, found.segments, names)
            rows[arm].append((spec, verdict, seconds / minutes, round(values[0] / minutes)))
        print(f"timelines: {number}", flush=True)
    del index.lookup
    results = {}
    for arm, judged in rows.items():
        known = [(s, j) for s, j, _, _ in judged if s["kind"] == "known"]
        by_speed = {}
        for speed in TIMELINE_SPEEDS:
            mine = [j for s, j in known if s["speed"] == speed]
            by_speed[f"{speed:g}"] = {
                "inputs": len(mine),
                **{
                    key: sum(bool(j[key]) for j in mine)
                    for key in ("found", "right", "speed_within_1pct", "change_said")
                },
                "segments": sum(j.get("segments", 0) for j in mine),
            }
        kinds = ("known", "unknown")
        cpu = {kind: [m for s, _, m, _ in judged if s["kind"] == kind] for kind in kinds}
        looked_up = {kind: [v for s, _, _, v in judged if s["kind"] == kind] for kind in kinds}
        results[arm] = {
            "by_speed": by_speed,
            "false_segments_known": sum(j["false"] for _, j in known),
            "false_segments_unknown": sum(j["false"] for s, j, _, _ in judged if s["kind"] == "unknown"),
            "unknown_inputs": sum(1 for s, _, _, _ in judged if s["kind"] == "unknown"),
            "cpu_s_a_minute": {
                kind: {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95))} for kind, v in cpu.items()
            },
            "values_a_minute": {
                kind: {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95))} for kind, v in looked_up.items()
            },
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("clips", "timelines", "sweep", "both"), default="both")
    parser.add_argument("--per-cell", type=int, default=20, help="clips a speed and length (at most 50 of the set)")
    parser.add_argument("--per-speed", type=int, default=4, help="long inputs a speed")
    parser.add_argument("--seed", type=int, default=38)
    parser.add_argument("--dry", action="store_true", help="print, do not save")
    args = parser.parse_args()
    manifest = corpus.load_or_build(OUT / "corpus.json")  # "foreign": the never-seen package
    index, names = load_index(query_set.robust_manifest(manifest))
    saved = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    settings = {"per_cell": args.per_cell, "per_speed": args.per_speed, "seed": args.seed, "wide": repr(WIDE)}
    if args.part in ("clips", "both"):
        saved["clips"] = {"when": time.strftime("%Y-%m-%d %H:%M"), "settings": settings,
                          "cells": clips_part(index, names, manifest, args.per_cell, args.seed)}  # fmt: skip
        print(json.dumps(saved["clips"], indent=1), flush=True)
    if args.part == "sweep":
        saved["sweep"] = {"when": time.strftime("%Y-%m-%d %H:%M"), "settings": settings,
                          "by_setting": sweep_part(index, names, manifest, args.per_cell, args.seed)}  # fmt: skip
    if args.part in ("timelines", "both"):
        saved["timelines"] = {"when": time.strftime("%Y-%m-%d %H:%M"), "settings": settings,
                              "arms": timelines_part(index, names, manifest, args.per_speed, args.seed)}  # fmt: skip
        print(json.dumps(saved["timelines"], indent=1), flush=True)
    if not args.dry:
        RESULTS_FILE.write_text(json.dumps(saved, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
