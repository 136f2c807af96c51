"""Study of peak times a room does not move (issue 38): every peak timed at its onset, both sides.

    .venv/bin/python -m bench.studies.room_onsets
    .venv/bin/python -m bench.studies.room_onsets --variants maximum,rise --clips 50 --unknown 1000

bench/studies/room.py found that a room keeps a clip's peaks but moves each a fraction of a frame
to a few frames later, note by note, so a pair's dt breaks. Here each peak keeps its place in the
spectrogram but is timed, on the references' side and the queries' alike, by
`fp.FingerprintParams.peak_time` (recognition/engine/fingerprint/peaks.py): `maximum` (the engine's),
`rise` (the frame of the bin's largest rise in dB within the four frames up to the maximum) or
`half-rise` (where the bin first rises half-way in dB from the lowest of those frames to the
maximum). Nothing stored changes: for each variant, in memory,

- peaks: room.py's first table with the variant on both sides: of the reference's peaks within
  a `room-dr0` clip's span (the robustness set, RT60 0.4 s, as much reverberant as direct sound),
  the share the clip's peaks hold within a bin and half a frame, one, two and four frames, and
  the reference's pairs the clip's pairs hold at the true offset; the clean excerpt beside it.
- answers: the engine as it is, its query settings timed as the variant, against an index of
  the robustness set's manifest fingerprinted with the variant (all variants built in one pass
  over the audio, cached in bench/out/room_onsets_index.pkl): the `room-dr0` clips, clips of the
  benchmark's conditions cut here from the catalog's tracks (`CELLS`, bench/studies/noise_study.py
  distorts them; cached in bench/out/room_onsets_clips.npz) and the set's never-indexed clips.
  Each cell keeps which clips it answered right, so variants compare clip by clip.
- storage: index rows a second of indexed audio, and the MB per audio hour they make at the
  benchmark's bytes per row (bench/results/results.json).

Results go to bench/results/room_onsets.json; docs/decisions.md quotes them through the
`room_onsets` report block (`make report`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import OUT, RESULTS, corpus, versions
from bench import queries as query_set
from bench.studies import noise_study, room
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "room_onsets.json"
INDEX_CACHE = OUT / "room_onsets_index.pkl"
CLIPS_CACHE = OUT / "room_onsets_clips.npz"
RATE = fp.QUERY.sample_rate_hz
HOP = fp.QUERY.hop_size
VARIANTS = ("maximum", "rise", "half-rise")
# The benchmark's conditions that must not get worse, at the lengths where they are furthest from
# 100 % (bench/results/results.json), cut from the catalog's tracks.
CELLS = "clean:1,clean:2,white+10:1,white0:2,white0:5,white-5:5,phone:2,mp3:2,speed+2:2,speed-2:3,room:2,music0:3"


def settings(variant: str) -> dict[str, fp.FingerprintParams]:
    """The fingerprint settings of a variant: the reference's and every query look's."""
    return {
        name: replace(params, peak_time=variant)
        for name, params in (
            ("reference", fp.REFERENCE),
            ("query", fp.QUERY),
            ("smoothed", fp.QUERY_SMOOTHED),
            ("dense", fp.QUERY_DENSE),
        )
    }


def engine_for(variant: str, index: MemoryIndex) -> Identifier:
    """The engine as it is, every look of a clip timed as `variant`."""
    chosen = settings(variant)
    return Identifier(
        index, params=chosen["query"], smoothed_params=chosen["smoothed"], window_dense_params=chosen["dense"]
    )


def build_indexes(manifest: dict, variants: tuple[str, ...]) -> dict:
    """{variant: index}, names, rows of each kind and the audio's seconds: every indexed track of
    `manifest` decoded once and fingerprinted as each variant's reference (cached in bench/out)."""
    if INDEX_CACHE.exists():
        cached = pickle.loads(INDEX_CACHE.read_bytes())  # noqa: S301 (our own cache, in bench/out)
        if set(cached["indexes"]) >= set(variants) and cached["tracks"] == len(manifest["indexed"]):
            return cached
    indexes = {variant: MemoryIndex() for variant in variants}
    rows = {variant: {"pairs": 0, "triplets": 0} for variant in variants}
    names, seconds = {}, 0.0
    for track_id, item in enumerate(manifest["indexed"]):
        x = corpus.decoded(item["path"])
        sketch = sk.sketch(x)
        for variant in variants:
            prints = fp.fingerprint(x, settings(variant)["reference"])
            pairs, triplets = prints.split()
            rows[variant]["pairs"] += len(pairs)
            rows[variant]["triplets"] += len(triplets)
            indexes[variant].add(track_id, prints, sketch)
        names[track_id] = item["path"]
        seconds += x.size / RATE
    built = {"indexes": indexes, "names": names, "rows": rows, "seconds": seconds, "tracks": len(names)}
    INDEX_CACHE.write_bytes(pickle.dumps(built))
    return built


def distort(condition: str, track: np.ndarray, start: int, n: int, rng, manifest: dict) -> np.ndarray:
    """noise_study's conditions, the interfering song of `music` from the never-indexed tracks
    (the never-seen package is indexed here)."""
    return noise_study.distort(condition, track, start, n, rng, {"foreign": manifest["held_out"]})


def other_cells(
    manifest: dict, cells: str, per_cell: int, seed: int = 2026, cache: Path = CLIPS_CACHE
) -> dict[str, list]:
    """{cell: [(track id, start s, samples)]}: clips of the benchmark's conditions at random
    places in the catalog's tracks (cached in `cache`, in bench/out)."""
    names = [cell for cell in cells.split(",") if cell]
    if cache.exists():
        with np.load(cache) as saved:
            listing = json.loads(str(saved["listing"]))
            if listing["per_cell"] == per_cell and listing["seed"] == seed and set(listing["cells"]) >= set(names):
                return {
                    cell: [(t, s, saved[f"{cell}/{k}"]) for k, (t, s) in enumerate(listing["cells"][cell])]
                    for cell in names
                }
    tracks = {track_id: corpus.decoded(item["path"]) for track_id, item in enumerate(manifest["indexed"])}
    made: dict[str, list] = {}
    for cell in names:
        condition, seconds = cell.split(":")
        rng = np.random.default_rng([seed, *map(ord, cell)])
        n = int(float(seconds) * RATE)
        made[cell] = []
        for _ in range(per_cell):
            track_id, start = noise_study.place_clip(rng, tracks, n)
            x = distort(condition, tracks[track_id], start, n, rng, manifest)[:n]
            made[cell].append((track_id, start / RATE, np.asarray(x, np.float32)))
    listing = {"per_cell": per_cell, "seed": seed, "cells": {c: [(t, s) for t, s, _ in v] for c, v in made.items()}}
    arrays = {f"{cell}/{k}": x for cell, clips in made.items() for k, (_, _, x) in enumerate(clips)}
    np.savez(cache, listing=json.dumps(listing), **arrays)
    return made


def peaks_part(variant: str, queries: list[query_set.Query], clips: dict[str, np.ndarray]) -> dict:
    """room.py's first table, the variant on both sides (the pairs as they are, no dt +-1)."""
    chosen = settings(variant)
    references: dict[str, tuple[fp.Constellation, fp.Fingerprints]] = {}
    cells: dict[str, dict] = {}
    for q in queries:
        clean, source = room.excerpt(q)
        if q.source not in references:
            references[q.source] = (
                fp.constellation(source, chosen["reference"]),
                fp.fingerprint(source, chosen["reference"]).split()[0],
            )
        constellation, pairs = references[q.source]
        start_frame = q.start_s * RATE / HOP
        for kind, samples in (("clean", clean), ("room", clips[q.id].astype(np.float32) / 32767)):
            cell = cells.setdefault(f"{kind}/{q.length_s:g}", {"clips": 0, "peaks": {}, "pairs_held": 0, "pairs": 0})
            cell["clips"] += 1
            for key, value in room.peak_shares(samples, constellation, start_frame, chosen["query"]).items():
                cell["peaks"][key] = cell["peaks"].get(key, 0) + value
            held, of = room.pairs_held(samples, pairs, start_frame, jitter=False, params=chosen["query"])
            cell["pairs_held"] += held
            cell["pairs"] += of
    return cells


def answers_part(
    engine: Identifier,
    names: dict[int, str],
    room_queries: list[query_set.Query],
    room_clips: dict[str, np.ndarray],
    cells: dict[str, list],
    unknown: list[query_set.Query],
) -> dict:
    """Which clips of each cell the engine answers right ("1") or not ("0"), the known clips it
    names as another recording or place, and the never-indexed clips it names as a track."""
    answered: dict[str, list[str]] = {}
    wrong = 0

    def judge(cell: str, source: str, start_s: float, length_s: float, samples: np.ndarray) -> None:
        nonlocal wrong
        match = engine.identify(samples)
        right = match is not None and versions.same_recording(
            source, start_s, names[match.track_id], fp.frames_to_seconds(match.offset_frames), length_s
        )
        wrong += match is not None and not right
        answered.setdefault(cell, []).append("1" if right else "0")

    for q in room_queries:
        judge(f"room-dr0:{q.length_s:g}", q.source, q.start_s, q.length_s, room_clips[q.id].astype(np.float32) / 32767)
    for cell, clips in cells.items():
        for track_id, start_s, x in clips:
            judge(cell, names[track_id], start_s, x.size / RATE, x)
    matched, cpu_ms = 0, []
    for q in unknown:
        started = time.process_time()
        matched += engine.identify(room_clips[q.id].astype(np.float32) / 32767) is not None
        cpu_ms.append(1000 * (time.process_time() - started))
    return {
        "answered": {cell: "".join(marks) for cell, marks in answered.items()},
        "known_wrong": wrong,
        "unknown": len(unknown),
        "unknown_matched": matched,
        "cpu_ms_a_never_indexed_clip": {"p50": float(np.median(cpu_ms)), "p95": float(np.percentile(cpu_ms, 95))},
    }


def storage(rows: dict[str, int], seconds: float) -> dict:
    """Rows a second of audio, and MB per audio hour at the benchmark's bytes per stored row."""
    benchmark = json.loads((RESULTS / "results.json").read_text())["earshot"]
    bytes_per_row = benchmark["bytes_per_audio_hour"] / (3600 * benchmark["hashes_per_audio_s"])
    per_second = (rows["pairs"] + rows["triplets"]) / seconds
    return {
        "pairs_per_s": rows["pairs"] / seconds,
        "triplets_per_s": rows["triplets"] / seconds,
        "mb_per_audio_hour": per_second * 3600 * bytes_per_row / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument(
        "--cells", default=CELLS, help="condition:seconds of the benchmark's conditions, comma-separated"
    )
    parser.add_argument("--clips", type=int, default=50, help="clips a cell of the benchmark's conditions")
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    args = parser.parse_args()
    variants = tuple(args.variants.split(","))
    manifest, room_queries, unknown, room_clips = room.room_set(args.unknown)
    started = time.perf_counter()
    built = build_indexes(query_set.robust_manifest(manifest), variants)
    print(f"indexes: {built['tracks']} tracks ({time.perf_counter() - started:.0f} s)", flush=True)
    cells = other_cells(manifest, args.cells, args.clips)
    results = {}
    for variant in variants:
        started = time.perf_counter()
        results[variant] = {
            "peaks": peaks_part(variant, room_queries, room_clips),
            "storage": storage(built["rows"][variant], built["seconds"]),
            **answers_part(
                engine_for(variant, built["indexes"][variant]), built["names"], room_queries, room_clips, cells, unknown
            ),
        }
        print(variant, json.dumps(results[variant], indent=1), f"({time.perf_counter() - started:.0f} s)", flush=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "clips_a_cell": args.clips,
                "indexed_hours": built["seconds"] / 3600,
                "variants": results,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
