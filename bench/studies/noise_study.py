"""Study of the smoothed retry on fresh clips: the engine with and without it, cell by cell.

    .venv/bin/python -m bench.studies.noise_study --clips 80 --unknown 600
    .venv/bin/python -m bench.studies.noise_study --variants plain,retry:1-2-1,always:1-3-1
    .venv/bin/python -m bench.studies.noise_study --variants retry:1-2-1 --reference peaks_per_second=25.0:fan_out=3
    .venv/bin/python -m bench.studies.noise_study --variants retry:1-2-1 --match cells_per_frame=1
    .venv/bin/python -m bench.studies.noise_study --variants retry:1-2-1 --arms today,speed-grid

The clips are new ones, not the benchmark's query files: random places in the catalog's tracks
(weighted by length, so long quiet passages count as often as they occur), distorted here with
bench/distortions.py, plus never-indexed and never-seen clips for false matches. An in-memory
index, as in bench/studies/sweep.py. Variants: `plain` (no smoothed retry), `retry:W` (the retry's
spectrogram smoothed in time with weights W, e.g. 1-2-1: the engine's) and `always:W` (every
clip's peaks picked on the smoothed spectrogram, no retry); `:name=value` after W changes one
more fingerprint setting of the smoothed clip (`retry:1-2-1:peaks_per_second=70`).
`--reference name=value[:name=value]` indexes the catalog with other reference settings, and
`--match` decides with other matcher settings (MatchParams), `--arms` with other retries (the
presets of bench/studies/robustness.py). Each line also gives the distinct
values a 5 s unknown clip looked up in every track (p50/p95), the work that grows with the
catalog. For choosing, not for quoting.
"""

from __future__ import annotations

import argparse
import ast
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np

from bench import OUT, corpus, distortions, versions
from bench.studies import robustness
from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex

RATE = fp.QUERY.sample_rate_hz
CELLS = "white0:5,white-5:5,white0:2,white+10:1,clean:1,room:2,music0:3,phone:2,speed+2:2,speed-2:3"


def distort(condition: str, track: np.ndarray, start: int, n: int, rng, manifest: dict) -> np.ndarray:
    """`n` samples of `track` from `start`, distorted as the benchmark's conditions do."""
    x = track[start : start + n]
    if condition == "clean":
        return x
    if condition.startswith("white"):
        return distortions.add_noise(x, float(condition[5:]), rng)
    if condition == "mp3":
        return distortions.mp3_roundtrip(x, RATE, 64)
    if condition == "phone":
        return distortions.telephone(x, RATE, 10, rng)
    if condition == "room":  # the reverb of the second before rings into the clip
        pre = min(RATE, start)
        return distortions.room(track[start - pre : start + n], RATE, rng)[pre : pre + n]
    if condition.startswith("music"):
        other = corpus.decoded(manifest["foreign"][int(rng.integers(len(manifest["foreign"])))]["path"])
        at = int(rng.integers(0, other.size - n))
        return distortions.mix(x, other[at : at + n], float(condition[5:]))
    if condition.startswith("speed"):
        factor = 1 + float(condition[5:]) / 100
        return distortions.change_speed(track[start : start + int(n * factor) + RATE // 10], factor)[:n]
    raise ValueError(condition)


def place_clip(rng, tracks: dict[int, np.ndarray], n: int) -> tuple[int, int]:
    """A random (track id, start sample) for a clip of `n` samples: tracks drawn by length, so
    long quiet passages count as often as they occur, and none too short for the clip."""
    lengths = np.array([x.size for x in tracks.values()], np.float64)
    track_id = int(rng.choice(lengths.size, p=lengths / lengths.sum()))
    while tracks[track_id].size - 2 * n <= RATE:  # a track too short for the clip
        track_id = int(rng.choice(lengths.size, p=lengths / lengths.sum()))
    return track_id, int(rng.integers(RATE, tracks[track_id].size - 2 * n))


def settings(items: list[str]) -> dict:
    """Fingerprint settings from `name=value` items (empty items skipped)."""
    return {key: ast.literal_eval(value) for key, value in (item.split("=") for item in items if item)}


def counting(index):
    """`index`, and a one-item list that counts the distinct values asked of it in every track:
    stage 1's work, which grows with the catalog."""
    values = [0]

    def counted(hashes, tracks=None):
        if tracks is None:
            values[0] += np.unique(hashes).size
        return index.lookup(hashes, tracks)

    methods = {name: getattr(index, name) for name in ("track_frames", "track_count", "sketch_slices")}
    return SimpleNamespace(lookup=counted, **methods), values


def engine_for(variant: str, index: MemoryIndex) -> Identifier:
    kind, _, rest = variant.partition(":")
    weights, *overrides = rest.split(":") if rest else [""]
    smoothed = None
    if weights:
        smoothed = replace(fp.QUERY, time_smoothing=tuple(float(w) for w in weights.split("-")), **settings(overrides))
    common = {"index": index}
    if kind == "plain":
        return Identifier(**common, smoothed_params=None)
    if kind == "retry":
        return Identifier(**common, smoothed_params=smoothed)
    if kind == "always":
        return Identifier(**common, params=smoothed, smoothed_params=None)
    raise ValueError(variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="plain,retry:1-2-1")
    parser.add_argument("--cells", default=CELLS, help="condition:seconds, comma-separated")
    parser.add_argument("--clips", type=int, default=80, help="clips a cell")
    parser.add_argument("--unknown", type=int, default=600, help="never-indexed and never-seen clips")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reference", default="", help="reference settings, name=value[:name=value]")
    parser.add_argument("--match", default="", help="matcher settings (MatchParams), name=value[:name=value]")
    parser.add_argument(
        "--arms", default="today", help="retry presets of bench/studies/robustness.py ARMS, each run with every variant"
    )
    args = parser.parse_args()
    reference = replace(fp.REFERENCE, **settings(args.reference.split(":")))
    match_params = replace(matching.DEFAULT_PARAMS, **settings(args.match.split(":")))

    manifest = corpus.load_or_build(OUT / "corpus.json")
    index = MemoryIndex()
    tracks = {}
    for track_id, item in enumerate(manifest["indexed"]):
        tracks[track_id] = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(tracks[track_id], reference), sk.sketch(tracks[track_id]))
    names = {track_id: item["path"] for track_id, item in enumerate(manifest["indexed"])}

    clips = {}  # cell -> [(track id, start s, samples)]
    for cell in args.cells.split(","):
        condition, seconds = cell.split(":")
        rng = np.random.default_rng([args.seed, *map(ord, cell)])
        n = int(float(seconds) * RATE)
        clips[cell] = []
        for _ in range(args.clips):
            track_id, start = place_clip(rng, tracks, n)
            x = distort(condition, tracks[track_id], start, n, rng, manifest)
            clips[cell].append((track_id, start / RATE, x.astype(np.float32)))
    rng = np.random.default_rng([args.seed, 99])
    unknown_items = manifest["held_out"] + manifest["foreign"]
    unknown = []
    for k in range(args.unknown):
        item = unknown_items[int(rng.integers(len(unknown_items)))]
        x = corpus.decoded(item["path"])
        seconds = (1, 2, 3, 5)[k % 4]
        start = int(rng.integers(0, x.size - seconds * RATE))
        clip = x[start : start + seconds * RATE]
        unknown.append((item["path"], start / RATE, seconds, clip if k % 3 else distortions.add_noise(clip, 5, rng)))

    print(f"{args.clips} clips a cell, {args.unknown} unknown clips; right answers (median ms a clip)")
    if args.reference:
        print(f"references: {args.reference}")
    if args.match:
        print(f"matcher: {args.match}")
    for variant, arm in [(v, a) for a in args.arms.split(",") for v in args.variants.split(",")]:
        engine = replace(engine_for(variant, index), match_params=match_params, **robustness.ARMS[arm])
        parts = [f"{variant}/{arm}"]
        total = 0
        for cell, cell_clips in clips.items():
            right = 0
            times = []
            for track_id, start_s, x in cell_clips:
                started = time.perf_counter()
                match = engine.identify(x)
                times.append(time.perf_counter() - started)
                if match is not None:
                    at = fp.frames_to_seconds(match.offset_frames)
                    right += versions.same_recording(names[track_id], start_s, names[match.track_id], at, x.size / RATE)
            total += right
            parts.append(f"{cell} {right:3d} ({1000 * np.median(times):.0f})")
        false = 0
        asked = []  # distinct values each 5 s unknown clip looks up in every track (stage 1)
        for path, start_s, seconds, x in unknown:
            counted, values = counting(engine.index)
            match = replace(engine, index=counted).identify(x)
            if seconds == 5:
                asked.append(values[0])
            if match is not None:
                at = fp.frames_to_seconds(match.offset_frames)
                false += not versions.same_recording(path, start_s, names[match.track_id], at, seconds)
        print(
            " | ".join(parts) + f" | all {total} | false {false}/{len(unknown)}"
            f" | 5 s unknown, values in every track p50/p95 {np.median(asked):.0f}/{np.percentile(asked, 95):.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
