"""Parameter study: the benchmark's queries against an in-memory index, for many settings fast.

    .venv/bin/python bench/sweep.py --set max_false_match_rate=1e-5 --per-cell 20
    .venv/bin/python bench/sweep.py --ref neighborhood_frames=11 --query peaks_per_second=30

This is how the engine's values were chosen (see the comments in recognition/fingerprint.py):
the same corpus and query files as `bench/run.py`, but no database, so a setting takes a minute
instead of an hour. Results are for choosing, not for quoting: the README quotes bench/run.py.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402
import queries as query_set  # noqa: E402

from recognition import audio, matching  # noqa: E402
from recognition import fingerprint as fp  # noqa: E402
from recognition.identify import Identifier  # noqa: E402
from recognition.memory_index import MemoryIndex  # noqa: E402

CACHE = HERE / "out" / "cache8k"


def _pairs(values: list[str]) -> dict:
    result = {}
    for item in values:
        key, _, value = item.partition("=")
        result[key] = ast.literal_eval(value)
    return result


def decoded(path: str) -> np.ndarray:
    """Reference audio at the engine rate, cached as int16."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / (Path(path).parent.name + "_" + Path(path).stem + ".npy")
    if not cached.exists():
        x = audio.decode(path, sample_rate_hz=8000, max_seconds=7200)
        np.save(cached, (x * 32767).astype(np.int16))
    return np.load(cached).astype(np.float32) / 32767


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", nargs="*", default=[], help="REFERENCE overrides, name=value")
    parser.add_argument("--query", nargs="*", default=[], help="QUERY overrides, name=value")
    parser.add_argument("--set", nargs="*", default=[], help="MatchParams overrides, name=value")
    parser.add_argument("--variants", default=None, help="speed variants, e.g. 0.98,1.02 ('' for none)")
    parser.add_argument("--per-cell", type=int, default=20)
    parser.add_argument("--conditions", default=",".join(query_set.CONDITIONS))
    args = parser.parse_args()

    reference = replace(fp.REFERENCE, **_pairs(args.ref))
    query = replace(fp.QUERY, **{**_pairs(args.ref), **_pairs(args.query)})
    match_params = replace(matching.DEFAULT_PARAMS, **_pairs(args.set))
    manifest = corpus.load_or_build(HERE / "out" / "corpus.json")
    all_queries = query_set.build(manifest, HERE / "out" / "queries", 50, 200)

    index = MemoryIndex()
    names = {}
    started = time.perf_counter()
    seconds = 0.0
    for track_id, item in enumerate(manifest["indexed"]):
        x = decoded(item["path"])
        index.add(track_id, fp.fingerprint(x, reference))
        names[track_id] = item["path"]
        seconds += x.size / 8000
    print(
        f"reference: {len(index) / seconds:.1f} hashes/s, "
        f"fingerprinting {seconds / (time.perf_counter() - started):.0f}x"
    )
    options = {}
    if args.variants is not None:
        options["speed_variants"] = tuple(float(v) for v in args.variants.split(",") if v)
    engine = Identifier(index.lookup, index.track_frames, params=query, match_params=match_params, **options)

    conditions = args.conditions.split(",")
    counts: dict[tuple[str, float], list[int]] = {}
    unknown = {"held_out": [0, 0], "foreign": [0, 0]}
    latency = []
    for q in all_queries:
        per_cell_key = (q.condition, q.length_s)
        if q.kind == "known":
            if q.condition not in conditions or counts.get(per_cell_key, [0, 0])[1] >= args.per_cell:
                continue
        elif unknown[q.kind][1] >= args.per_cell * 10:
            continue
        samples = audio.decode(q.path, sample_rate_hz=8000, max_seconds=30)
        started = time.perf_counter()
        match = engine.identify(samples)
        latency.append(time.perf_counter() - started)
        found = names.get(match.track_id) if match else None
        if q.kind == "known":
            cell = counts.setdefault(per_cell_key, [0, 0])
            cell[0] += found == q.source
            cell[1] += 1
        else:
            unknown[q.kind][0] += found is not None
            unknown[q.kind][1] += 1
    lengths = query_set.LENGTHS_S
    print("condition  " + "".join(f"{length:>7g}s" for length in lengths))
    for condition in conditions:
        cells = [counts.get((condition, float(length)), [0, 0]) for length in lengths]
        print(f"{condition:10s} " + "".join(f"{100 * c[0] / max(c[1], 1):7.1f}%" for c in cells))
    for kind, (matched, total) in unknown.items():
        print(f"false matches {kind}: {matched}/{total}")
    print(
        f"engine latency without the database: p50 {1000 * np.median(latency):.1f} ms, "
        f"p95 {1000 * np.percentile(latency, 95):.1f} ms"
    )


if __name__ == "__main__":
    main()
