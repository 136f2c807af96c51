"""The smoothed retry's cost and gain on the benchmark database, query by query.

    .venv/bin/python bench/ab_retry.py [--every N]   # after bench/run.py has filled its database

Every benchmark query is decoded once and identified twice, by the engine with its retry on the
spectrogram smoothed in time and without it, in alternating order, so that both sides see the
same machine at the same moment (a 2-core machine drifts by tens of percent within an hour).
Prints engine + database latency p50/p95 per clip length for both sides and their ratios, and
which answers differ.
"""

from __future__ import annotations

import argparse
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
from run import OUT, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=1, help="take every Nth query (default: all)")
    args = parser.parse_args()
    setup_django()
    from recognition.engine import audio
    from recognition.engine.fingerprint import QUERY
    from recognition.services import identifier

    manifest = corpus.load_or_build(OUT / "corpus.json")
    queries = query_set.build(manifest, OUT / "queries", 50, 100)[:: args.every]
    with_retry = identifier()
    sides = {"with": with_retry, "without": replace(with_retry, smoothed_params=None)}
    for warmup in queries[:20]:
        with_retry.identify(audio.decode(warmup.path, sample_rate_hz=QUERY.sample_rate_hz, max_seconds=30))
    latency: dict[tuple[str, float], list[float]] = {}
    differ = []
    for number, query in enumerate(queries):
        samples = audio.decode(query.path, sample_rate_hz=QUERY.sample_rate_hz, max_seconds=30)
        order = ["with", "without"] if number % 2 == 0 else ["without", "with"]
        answers = {}
        for side in order:
            started = time.perf_counter()
            match = sides[side].identify(samples)
            latency.setdefault((side, query.length_s), []).append((time.perf_counter() - started) * 1000)
            answers[side] = None if match is None else (match.track_id, round(match.offset_frames))
        if answers["with"] != answers["without"]:
            differ.append((query.id, answers["without"], answers["with"]))
    print("engine + database latency, ms: p50 / p95 (ratio with / without)")
    for length in query_set.LENGTHS_S:
        a, b = (np.asarray(latency[(side, float(length))]) for side in ("with", "without"))
        p50 = (np.median(a), np.median(b))
        p95 = (np.percentile(a, 95), np.percentile(b, 95))
        print(
            f"{length:>3g} s  with {p50[0]:6.1f} / {p95[0]:6.1f}   without {p50[1]:6.1f} / {p95[1]:6.1f}   "
            f"ratio {p50[0] / p50[1]:.2f} / {p95[0] / p95[1]:.2f}"
        )
    print(f"{len(differ)} of {len(queries)} answers differ (query: without -> with, as (track, offset frames)):")
    for query_id, before, after in differ:
        print(f"  {query_id}: {before} -> {after}")


if __name__ == "__main__":
    main()
