"""Study of music under a voice (issue 38): the denser look on clips, and on uploads' windows.

    .venv/bin/python -m bench.studies.voice --part clips --arms wide-all-screen,dense
    .venv/bin/python -m bench.studies.voice --part uploads

Against the robustness set's in-memory index (bench/studies/robustness.py: the catalog and the
never-seen package, `hyperrogue-music`, music no setting was chosen on; cached as
bench/out/robust_index.pkl), two parts:

* clips: the robustness set's voice-over cells (speech 5 and 10 dB louder than the music) and
  another song at 0 dB, 3, 5 and 10 s, and its 1,000 never-indexed clips, through each arm of
  robustness.py's `ARMS` (`robustness.run_arm`): the engine as it is (`wide-all-screen`), with the
  denser look (`dense`, fp.QUERY_DENSE) and the look's variations.
* uploads: inputs of 60 s with synthetic speech over all of it (espeak-ng, bench/distortions.py,
  5 or 10 dB louder than the music in turn): 50 s of a never-seen track between 5 s of
  never-indexed music, and 60 s of never-indexed music alone; each through `Identifier.timeline`
  without the denser look (the engine before) and with it (`window_dense_params`), one after the
  other on the same input. Per arm: inputs whose track was found, found right and whole
  (timeline_speeds.py's judge), the seconds of the track's 50 s its right segments cover,
  segments naming another track, the engine's CPU seconds a minute of input (no decoding, no
  database: what the look adds to an upload's own work) and the distinct values a minute looks
  up in every track (the work that grows with the catalog).

Results go to bench/results/voice.json; docs/decisions.md quotes them through the `voice` report
block (`make report`).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time

import numpy as np

from bench import OUT, RESULTS, corpus
from bench import distortions as dist
from bench import queries as query_set
from bench.studies import robustness, timeline_speeds
from recognition.engine import fingerprint as fp
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "voice.json"
RATE = fp.QUERY.sample_rate_hz
CONDITIONS = ("voice+5", "voice+10", "music0")
INPUT_S, PAD_S = 60.0, 5.0
SPEECH_ABOVE_DB = (5.0, 10.0)


def load_index(manifest: dict) -> tuple[MemoryIndex, dict[int, str]]:
    """The robustness set's index, built once and cached in bench/out."""
    if timeline_speeds.INDEX_CACHE.exists():
        return timeline_speeds.load_index(manifest)
    built = robustness.build_index(manifest)
    partial = timeline_speeds.INDEX_CACHE.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(pickle.dumps(built))
    partial.replace(timeline_speeds.INDEX_CACHE)
    return built


def clips_part(index: MemoryIndex, names: dict[int, str], arms: list[str], per_cell: int, unknown: int) -> dict:
    """Part one: the set's voice-over and music 0 dB cells and its never-indexed clips, arm by arm."""
    every = query_set.build_robust(corpus.load_or_build(OUT / "corpus.json"), OUT / "queries_robust", 50, 1000)
    queries = robustness.selected(every, set(CONDITIONS), per_cell, unknown)
    clips = robustness.decoded_clips(every)
    results = {}
    for name in arms:
        results[name] = robustness.run_arm(name, Identifier(index, **robustness.ARMS[name]), queries, clips, names)
        print(name, json.dumps(results[name]["accuracy"]), results[name]["false_matches"], flush=True)
        _save("clips", {"arms": {name: results[name]}})
    return results


def fresh_part(
    index: MemoryIndex, names: dict[int, str], manifest: dict, arms: list[str], per_cell: int, unknown: int, seed: int
) -> dict:
    """Part one on clips made here (when the set is not built yet): 5 s of the never-seen package
    at 8 kHz under the set's three conditions (espeak-ng speech 5 and 10 dB louder, another
    never-indexed song at 0 dB), and `unknown` never-indexed 5 s clips under them in turn."""
    rng = np.random.default_rng(seed)
    length_s = 5.0
    queries, clips = [], {}

    def add(kind: str, item: dict, condition: str) -> None:
        x = corpus.decoded(item["path"])
        start_s = float(rng.uniform(0, item["duration_s"] - length_s - 1.0))
        clip = x[int(start_s * RATE) : int(start_s * RATE) + int(length_s * RATE)]
        if condition == "music0":
            other = manifest["held_out"][int(rng.integers(len(manifest["held_out"])))]
            y = corpus.decoded(other["path"])
            other_s = float(rng.uniform(0, other["duration_s"] - length_s - 1.0))
            mixed = dist.mix(clip, y[int(other_s * RATE) : int(other_s * RATE) + clip.size], 0.0)
        else:
            mixed = dist.voice_over(clip, dist.speech(length_s, RATE, rng), query_set.VOICE_OVERS[condition])
        query_id = f"{kind}-{condition}-{len(queries):05d}"
        clips[query_id] = (np.clip(mixed, -1, 1) * 32767).astype(np.int16)
        queries.append(query_set.Query(query_id, "", kind, item["path"], start_s, length_s, condition))

    for condition in CONDITIONS:
        for _ in range(per_cell):
            add("known", manifest["foreign"][int(rng.integers(len(manifest["foreign"])))], condition)
    for k in range(unknown):
        add("held_out", manifest["held_out"][int(rng.integers(len(manifest["held_out"])))], CONDITIONS[k % 3])
    print(f"fresh clips: {len(queries)}", flush=True)
    results = {}
    for name in arms:
        results[name] = robustness.run_arm(name, Identifier(index, **robustness.ARMS[name]), queries, clips, names)
        print(name, json.dumps(results[name]["accuracy"]), results[name]["false_matches"], flush=True)
        _save("fresh", {"arms": {name: results[name]}})
    return results


def _inputs(manifest: dict, per_kind: int, seed: int) -> list[dict]:
    """The uploads: a never-seen track's 50 s between never-indexed music, and never-indexed music
    alone, each with a voice over all of it, 5 and 10 dB louder in turn."""
    rng = np.random.default_rng(seed)
    held_out = [item for item in manifest["held_out"] if item["duration_s"] > 3 * INPUT_S]
    length = INPUT_S - 2 * PAD_S
    fits = [item for item in manifest["foreign"] if item["duration_s"] > length + 2]
    inputs = []
    for k in range(per_kind):
        item = fits[int(rng.integers(len(fits)))]
        start_s = float(rng.uniform(0, item["duration_s"] - length - 1.5))
        other = held_out[int(rng.integers(len(held_out)))]
        other_s = float(rng.uniform(0, other["duration_s"] - 2 * PAD_S - 2))
        inputs.append({
            "kind": "known", "speed": 1.0, "source": item["path"], "start_s": start_s,
            "speech_above_db": SPEECH_ABOVE_DB[k % 2], "voice_seed": int(rng.integers(1 << 31)),
            "parts": [(other["path"], other_s, PAD_S), (item["path"], start_s, length),
                      (other["path"], other_s + PAD_S + 0.5, PAD_S)],
        })  # fmt: skip
    for k in range(per_kind):
        other = held_out[k % len(held_out)]
        other_s = float(rng.uniform(0, other["duration_s"] - INPUT_S - 1))
        inputs.append({
            "kind": "unknown", "speed": 1.0, "source": other["path"], "start_s": other_s,
            "speech_above_db": SPEECH_ABOVE_DB[k % 2], "voice_seed": int(rng.integers(1 << 31)),
            "parts": [(other["path"], other_s, INPUT_S)],
        })  # fmt: skip
    return inputs


def _audio(spec: dict) -> np.ndarray:
    """An input's samples, a voice over all of them (the music ducked under it, bench/distortions.py)."""
    music = timeline_speeds._audio(spec)
    voice = dist.speech(music.size / RATE, RATE, np.random.default_rng(spec["voice_seed"]))
    return dist.voice_over(music, voice, spec["speech_above_db"])


def _covered_s(spec: dict, segments: list, names: dict[int, str]) -> float:
    """Seconds of the input's track (its 50 s) that segments naming it at its place cover."""
    if spec["kind"] != "known":
        return 0.0
    covered = np.zeros(int(INPUT_S), bool)
    for segment in segments:
        if names.get(segment.track_id) != spec["source"]:
            continue
        first_s = float(fp.frames_to_seconds(segment.start_frame))
        truth_s = spec["start_s"] + first_s - PAD_S
        if abs(float(fp.frames_to_seconds(segment.offset_frames)) - truth_s) <= 1.5:
            last_s = min(float(fp.frames_to_seconds(segment.end_frame)), INPUT_S - PAD_S)
            covered[int(max(first_s, PAD_S)) : int(last_s)] = True
    return float(covered.sum())


def uploads_part(index: MemoryIndex, names: dict[int, str], manifest: dict, per_kind: int, seed: int) -> dict:
    """Part two: uploads with a voice-over through the timeline, without and with the denser look."""
    engines = {"before": Identifier(index, window_dense_params=None), "dense": Identifier(index)}
    rows: dict[str, list[tuple[dict, dict, float, float, int]]] = {arm: [] for arm in engines}
    values = timeline_speeds.counting_lookups(index)
    for number, spec in enumerate(_inputs(manifest, per_kind, seed), 1):
        x = _audio(spec)
        minutes = x.size / RATE / 60
        # Alternate which arm goes first: the machine is shared and drifts.
        order = list(engines) if number % 2 else list(engines)[::-1]
        for arm in order:
            values[0] = 0
            started = time.process_time()  # CPU time: the engine runs on one core
            found = engines[arm].timeline(iter([x[i : i + 60000] for i in range(0, x.size, 60000)]))
            seconds = time.process_time() - started
            verdict = timeline_speeds._judge_input(spec, found.segments, names)
            covered = _covered_s(spec, found.segments, names)
            rows[arm].append((spec, verdict, covered, seconds / minutes, round(values[0] / minutes)))
        print(f"uploads: {number} {spec['kind']} {spec['speech_above_db']:g} dB:",
              {arm: (rows[arm][-1][1]["found"], rows[arm][-1][2], round(rows[arm][-1][3], 2)) for arm in engines},
              flush=True)  # fmt: skip
    del index.lookup
    results: dict = {"when": time.strftime("%Y-%m-%d %H:%M"), "load_average": os.getloadavg()[0], "arms": {}}
    for arm, judged in rows.items():
        known = [(s, j, c) for s, j, c, _, _ in judged if s["kind"] == "known"]
        by_level = {}
        for level in SPEECH_ABOVE_DB:
            mine = [(j, c) for s, j, c in known if s["speech_above_db"] == level]
            by_level[f"{level:g}"] = {
                "inputs": len(mine),
                "found": sum(bool(j["found"]) for j, _ in mine),
                "right": sum(bool(j["right"]) for j, _ in mine),
                "covered_s": float(np.mean([c for _, c in mine])) if mine else 0.0,
            }
        cpu = {kind: [m for s, _, _, m, _ in judged if s["kind"] == kind] for kind in ("known", "unknown")}
        looked_up = {kind: [v for s, _, _, _, v in judged if s["kind"] == kind] for kind in ("known", "unknown")}
        results["arms"][arm] = {
            "by_level": by_level,
            "track_s": INPUT_S - 2 * PAD_S,
            "false_segments_known": sum(j["false"] for _, j, _ in known),
            "false_segments_unknown": sum(j["false"] for s, j, _, _, _ in judged if s["kind"] == "unknown"),
            "unknown_inputs": sum(1 for s, *_ in judged if s["kind"] == "unknown"),
            "cpu_s_a_minute": {
                kind: {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95))} for kind, v in cpu.items()
            },
            "values_a_minute": {
                kind: {"p50": float(np.median(v)), "p95": float(np.percentile(v, 95))} for kind, v in looked_up.items()
            },
        }
    return results


def _save(part: str, found: dict) -> None:
    """Merge one part's figures into the results file (a clips arm replaces its entry)."""
    saved = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    if part in ("clips", "fresh"):
        clips = saved.setdefault(part, {"arms": {}})
        clips["arms"].update(found["arms"])
    else:
        saved[part] = found
    RESULTS_FILE.write_text(json.dumps(saved, indent=1, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("clips", "fresh", "uploads", "index"), default="uploads")
    parser.add_argument("--arms", default="wide-all-screen,dense", help="clips: arms of robustness.ARMS")
    parser.add_argument("--per-cell", type=int, default=50, help="clips a condition and length (at most 50)")
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    parser.add_argument("--per-kind", type=int, default=12, help="uploads with a track, and never-indexed ones")
    parser.add_argument("--seed", type=int, default=38)
    args = parser.parse_args()
    manifest = corpus.load_or_build(OUT / "corpus.json")  # "foreign": the never-seen package
    started = time.perf_counter()
    index, names = load_index(query_set.robust_manifest(manifest))
    print(f"index: {len(index)} rows ({time.perf_counter() - started:.0f} s)", flush=True)
    if args.part == "clips":
        clips_part(index, names, args.arms.split(","), args.per_cell, args.unknown)
    elif args.part == "fresh":
        fresh_part(index, names, manifest, args.arms.split(","), args.per_cell, args.unknown, args.seed)
    elif args.part == "uploads":
        found = uploads_part(index, names, manifest, args.per_kind, args.seed)
        print(json.dumps(found, indent=1), flush=True)
        _save("uploads", found)


if __name__ == "__main__":
    main()
