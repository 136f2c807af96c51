"""Study of the robustness set (issue 38): speed, pitch, tempo, voice-over, another song, a room.

    .venv/bin/python -m bench.studies.robustness --arms today
    .venv/bin/python -m bench.studies.robustness --arms today,speed-grid --conditions speed+5,speed-5

The benchmark's robustness set (`bench/queries.py` `build_robust`: clips of the never-seen package,
music the engine was never tuned on, and never-indexed clips for false matches) against an
in-memory index of the catalog and the never-seen package (`MemoryIndex`, as
bench/studies/sweep.py: no database, the same engine). Each arm is a preset of Identifier settings
(`ARMS`); every arm answers every clip. For each arm it records, per condition and length, the
share of clips answered right (same recording at the right place, bench/versions.py), the clips
whose answer reported the change (speed within 1 %, pitch within half a semitone), the unknown
clips matched, the engine's time per clip without a database, and the distinct values a 5 s
unknown clip looks up in every track (stage 1, as heard and retried): the work that grows with
the catalog and that unknown audio pays in full. Results go to bench/results/robustness.json,
one entry per arm (a new run of an arm replaces its entry); docs/decisions.md quotes them through
the `robustness` report block (`make report`).

bench/studies/robustness_cpu.py times the engine's CPU on the same set, engine beside engine.
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
from recognition.engine import arrays, audio
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier, retries
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "robustness.json"
DECODED = OUT / "queries_robust_8k.npz"
INDEX_CACHE = OUT / "robust_index.pkl"
RATE = fp.QUERY.sample_rate_hz


_grid, _pitches, _tempos = retries.speed_grid, retries.pitch_grid, retries.tempo_grid


# Retry speeds are the factors the clip's peaks are moved by (frames / factor, bins x factor):
# a clip played 5 % fast is found at 1 / 1.05.
ARMS: dict[str, dict] = {
    # The engine before issue 38: no wide retries (and no denser look on clips).
    "today": {"wide_variants": (), "dense_params": None},
    # Today's +-1-2 % retries, then every 1 % out to the set's +25 % and -20 %.
    "speed-grid": {"speed_variants": _grid(0.80, 1.25), "wide_variants": ()},
    # ... out to +-10 % only.
    "speed-grid-10": {"speed_variants": _grid(0.90, 1.10), "wide_variants": ()},
    # Today's retries on 90 % of the bound, then every 1 % out to +25 % and -20 % on 10 % of it.
    "wide-share": {
        "wide_screen_min_wide": 2,
        "wide_variants": _grid(0.80, 1.25, skip=0.02),
        "wide_triplet_fan_out": 6,
        "wide_shifts": 2,
        "wide_decided": None,
    },
    # ... the wide speeds from fewer triplets (4 targets, one sub-frame shift): less work for unknown clips.
    "wide-share-lean": {
        "wide_variants": _grid(0.80, 1.25, skip=0.02),
        "wide_triplet_fan_out": 4,
        "wide_shifts": 1,
        "wide_decided": None,
    },
    # ... and pitch shifts (bins alone moved, every 1 % within +-2 semitones) and tempo changes
    # (frames alone, every 2 % within +-10 %), as the DJ's controls change them.
    "wide-all-lean": {
        "wide_variants": _grid(0.80, 1.25, skip=0.02) + _pitches(2.0) + _tempos(0.10),
        "wide_triplet_fan_out": 4,
        "wide_shifts": 1,
        "wide_decided": None,
    },
    # ... decided on only the WIDE_DECIDED retries whose triplets align best (one ranking of all):
    # retries.WIDE_VARIANTS with the engine's wide settings. The engine as it was run in that
    # column: since the denser look went on for clips (docs/decisions.md, dense_params), with it,
    # as fp.QUERY_DENSE (the clip's look takes fp.QUERY_DENSE_CLIP now: `dense-fan8`).
    "wide-all-screen": {"wide_variants": retries.WIDE_VARIANTS, "dense_params": fp.QUERY_DENSE},
    # ... screened on fewer triplets: 3 targets; all three peaks wide.
    # The engine as it is, plus the clip's peaks picked again twice as dense (100 a second), all of
    # them eligible for triplets, looked up in every track as one more look on the main share
    # (fp.QUERY_DENSE, the look a long input's windows get).
    "dense": {"dense_params": fp.QUERY_DENSE},
    # ... its budget of peaks shared by five bands instead of two (edges at 250, 500, 1000 and
    # 2000 Hz), so a voice's formants cannot take the peaks of the bands where the music is louder.
    "dense-bands": {"dense_params": replace(fp.QUERY_DENSE, subband_edges_hz=(250.0, 500.0, 1000.0, 2000.0))},
    # ... 150 peaks a second instead of 100.
    "dense-150": {"dense_params": replace(fp.QUERY_DENSE, peaks_per_second=150.0)},
    # ... its peaks maxima of 3 x 3 cells instead of 5 x 5 (more of the music's peaks stand out
    # between the other source's, bench/studies/voice_lost.py).
    "dense-n33": {"dense_params": replace(fp.QUERY_DENSE, neighborhood_frames=3, neighborhood_bins=3)},
    # ... its triplets from 8 nearest targets instead of 6 (7: `dense-fan7`): under another song the
    # reference's two nearest targets fall further down an anchor's (bench/studies/voice_lost.py).
    # `dense-fan8` is fp.QUERY_DENSE_CLIP, the engine's now.
    "dense-fan8": {"dense_params": fp.QUERY_DENSE_CLIP},
    "dense-fan7": {"dense_params": replace(fp.QUERY_DENSE, triplet_fan_out=7)},
    # ... 8 targets, and only the triplets with at least one peak (`-w2`: two) a maximum of a
    # reference's neighbourhood: fewer values.
    "dense-fan8-w1": {
        "dense_params": replace(fp.QUERY_DENSE_CLIP, triplet_peak_neighborhood=(11, 9), triplet_min_wide_peaks=1)
    },
    "dense-fan8-w2": {
        "dense_params": replace(fp.QUERY_DENSE_CLIP, triplet_peak_neighborhood=(11, 9), triplet_min_wide_peaks=2)
    },
    # ... the screen's triplets need two wide peaks of three, as the query's (more values).
    "wide-all-screen-w2": {"wide_variants": retries.WIDE_VARIANTS, "wide_screen_min_wide": 2},
}


def _truth(condition: str) -> tuple[float, float]:
    """(speed, pitch in semitones) of a condition's clips against the track."""
    speeds = {**query_set.SPEEDS, **query_set.ROBUST_SPEEDS, **query_set.TEMPOS}
    if condition in speeds:
        pitch = 0.0 if condition in query_set.TEMPOS else 12 * float(np.log2(speeds[condition]))
        return speeds[condition], pitch
    return 1.0, query_set.PITCHES.get(condition, 0.0)


def decoded_clips(queries: list[query_set.Query]) -> dict[str, np.ndarray]:
    """Every clip at the engine's rate as int16, decoded once (cached in bench/out)."""
    if DECODED.exists():
        with np.load(DECODED) as saved:
            if set(saved.files) >= {q.id for q in queries}:
                return {q.id: saved[q.id] for q in queries}
    clips = {
        q.id: (audio.decode(q.path, sample_rate_hz=RATE, max_seconds=30) * 32767).astype(np.int16) for q in queries
    }
    np.savez(DECODED, **clips)
    return clips


def selected(every: list[query_set.Query], conditions: set[str], per_cell: int, unknown: int) -> list[query_set.Query]:
    """The first `per_cell` clips of each of `conditions` and length, and the first `unknown`
    never-indexed clips, in the set's order."""
    taken: dict[tuple[str, float], int] = {}
    queries = []
    for q in every:
        key = (q.condition, q.length_s) if q.kind == "known" else ("unknown", 0.0)
        limit = per_cell if q.kind == "known" else unknown
        if (q.kind == "known" and q.condition not in conditions) or taken.get(key, 0) >= limit:
            continue
        taken[key] = taken.get(key, 0) + 1
        queries.append(q)
    return queries


def build_index(manifest: dict) -> tuple[MemoryIndex, dict[int, str]]:
    """The catalog and the never-seen package, fingerprinted as references, with sketches."""
    index = MemoryIndex()
    names = {}
    for track_id, item in enumerate(manifest["indexed"]):
        x = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(x, fp.REFERENCE), sk.sketch(x))
        names[track_id] = item["path"]
    return index, names


def load_index(manifest: dict) -> tuple[MemoryIndex, dict[int, str]]:
    """The index of `build_index`, from its cache in bench/out when it is there."""
    if INDEX_CACHE.exists():
        return pickle.loads(INDEX_CACHE.read_bytes())  # noqa: S301 (our own cache, in bench/out)
    return build_index(manifest)


def run_arm(
    name: str, engine: Identifier, queries: list[query_set.Query], clips: dict[str, np.ndarray], names: dict[int, str]
) -> dict:
    """Every clip through `engine`; the arm's figures, as RESULTS_FILE keeps them."""
    index = engine.index
    plain_lookup = type(index).lookup.__get__(index)
    probes = [0]

    def counted(hashes, tracks=None):
        if tracks is None:
            probes[0] += arrays.distinct(hashes).size
        return plain_lookup(hashes, tracks)

    index.lookup = counted  # type: ignore[method-assign]
    cells: dict[str, dict[str, list]] = {}
    unknown: dict[str, list] = {}
    values_5s: list[int] = []
    for number, q in enumerate(queries, 1):
        x = clips[q.id].astype(np.float32) / 32767
        probes[0] = 0
        started = time.perf_counter()
        match = engine.identify(x)
        ms = 1000 * (time.perf_counter() - started)
        found = names.get(match.track_id) if match else None
        right = found is not None and versions.same_recording(
            q.source, q.start_s, found, fp.frames_to_seconds(match.offset_frames) if match else None, q.length_s
        )
        length = f"{q.length_s:g}"
        if q.kind == "known":
            speed, pitch = _truth(q.condition)
            told = (
                right
                and match is not None
                and abs(match.speed / speed - 1) <= 0.01
                and abs(match.pitch_semitones - pitch) <= 0.5
            )
            cells.setdefault(q.condition, {}).setdefault(length, []).append((right, told, ms))
        else:
            unknown.setdefault(length, []).append((found is not None and not right, ms))
            if q.length_s == 5:
                values_5s.append(probes[0])
        if number % 200 == 0:
            print(f"{name}: {number}/{len(queries)}", flush=True)
    del index.lookup
    return {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "settings": {key: repr(value) for key, value in ARMS[name].items()},
        "accuracy": {
            c: {length: 100.0 * np.mean([r for r, _, _ in v]) for length, v in by.items()} for c, by in cells.items()
        },
        "change_reported": {
            c: {length: 100.0 * np.mean([t for _, t, _ in v]) for length, v in by.items()} for c, by in cells.items()
        },
        "clips": {c: {length: len(v) for length, v in by.items()} for c, by in cells.items()},
        "known_ms": {
            length: {"p50": float(np.median(ms)), "p95": float(np.percentile(ms, 95))}
            for length, ms in _by_length(cells).items()
        },
        "false_matches": {
            "matched": int(sum(m for v in unknown.values() for m, _ in v)),
            "queries": len([1 for v in unknown.values() for _ in v]),
        },
        "unknown_ms": {
            length: {"p50": float(np.median([t for _, t in v])), "p95": float(np.percentile([t for _, t in v], 95))}
            for length, v in unknown.items()
        },
        "unknown_5s_values": {"p50": float(np.median(values_5s)), "p95": float(np.percentile(values_5s, 95))}
        if values_5s
        else None,
    }


def _by_length(cells: dict[str, dict[str, list]]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for by in cells.values():
        for length, v in by.items():
            found.setdefault(length, []).extend(ms for _, _, ms in v)
    return found


def save(results: dict, path: Path = RESULTS_FILE) -> None:
    """Merge `results` (arm -> figures) into the results file."""
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved.update(results)
    path.write_text(json.dumps(saved, indent=1, sort_keys=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default="today", help=f"comma-separated, of {', '.join(ARMS)}")
    parser.add_argument("--per-cell", type=int, default=50, help="clips a condition and length (at most 50)")
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    parser.add_argument("--conditions", default=",".join(query_set.ROBUST_CONDITIONS))
    parser.add_argument("--dry", action="store_true", help="print, do not save")
    args = parser.parse_args()

    manifest = query_set.robust_manifest(corpus.load_or_build(OUT / "corpus.json"))
    every = query_set.build_robust(corpus.load_or_build(OUT / "corpus.json"), OUT / "queries_robust", 50, 1000)
    queries = selected(every, set(args.conditions.split(",")), args.per_cell, args.unknown)
    clips = decoded_clips(every)
    started = time.perf_counter()
    index, names = load_index(manifest)
    print(f"index: {len(manifest['indexed'])} tracks, {len(index)} rows ({time.perf_counter() - started:.0f} s)")
    results = {}
    for name in args.arms.split(","):
        engine = Identifier(index, **ARMS[name])
        results[name] = run_arm(name, engine, queries, clips, names)
        print(json.dumps(results[name], indent=1), flush=True)
        if not args.dry:
            save({name: results[name]})


if __name__ == "__main__":
    main()
