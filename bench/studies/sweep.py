"""Parameter study: the benchmark's queries against an in-memory index, for many settings fast.

    .venv/bin/python -m bench.studies.sweep --set max_false_match_rate=1e-5 --per-cell 20
    .venv/bin/python -m bench.studies.sweep --ref neighborhood_frames=11 --query peaks_per_second=30

This is how the engine's values were chosen (see the comments in recognition/engine/fingerprint/params.py):
the same corpus and query files as `bench/run.py`, but no database, so a setting takes a minute
instead of an hour. Results are for choosing, not for quoting: docs/benchmarks.md quotes bench/run.py.
"""

from __future__ import annotations

import argparse
import ast
import time
from dataclasses import replace

import numpy as np

from bench import OUT, corpus, versions
from bench import queries as query_set
from recognition.engine import arrays, audio, matching
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex


def _pairs(values: list[str]) -> dict:
    result = {}
    for item in values:
        key, _, value = item.partition("=")
        result[key] = ast.literal_eval(value)
    return result


def _true_rank(engine: Identifier, samples: np.ndarray, names: dict, source: str) -> int:
    """Rank of the query's own track in stage 1's choice (with one stage, among all tracks by
    pair votes), best first (99: no votes)."""
    clip = fp.fingerprint(samples, engine.params)
    pairs, triplets = clip.split()
    hits = engine.lookup_hits([triplets if engine.two_stage else pairs])[0]
    order = matching.top_tracks(hits, clip.n_frames, engine.index.track_frames, len(names))
    position = np.flatnonzero([names.get(int(t)) == source for t in order])
    return int(position[0]) if position.size else 99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", nargs="*", default=[], help="REFERENCE overrides, name=value")
    parser.add_argument("--query", nargs="*", default=[], help="QUERY overrides, name=value")
    parser.add_argument("--set", nargs="*", default=[], help="MatchParams overrides, name=value")
    parser.add_argument("--variants", default=None, help="speed variants, e.g. 0.98,1.02 ('' for none)")
    parser.add_argument("--per-cell", type=int, default=20)
    parser.add_argument("--shortlist", type=int, default=None, help="candidates stage 1 hands to stage 2")
    parser.add_argument("--retry-fan-out", type=int, default=None, help="triplet fan-out of speed retries")
    parser.add_argument("--retry-shifts", type=int, default=None, help="sub-frame shifts of speed retries")
    parser.add_argument("--conditions", default=",".join(query_set.CONDITIONS))
    parser.add_argument("--lengths", default=None, help="query lengths in seconds, e.g. 1,2 (default: all)")
    parser.add_argument("--no-sketches", action="store_true", help="decide on landmarks alone (no sketch check)")
    parser.add_argument("--no-smoothed-retry", action="store_true", help="no retry on the spectrogram smoothed in time")
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also print how often stage 1 ranks the true track first / in the top 5 (by the "
        "false-match bound of its best alignment), whatever the decision",
    )
    args = parser.parse_args()

    reference = replace(fp.REFERENCE, **_pairs(args.ref))
    query = replace(fp.QUERY, **{**_pairs(args.ref), **_pairs(args.query)})
    match_params = replace(matching.DEFAULT_PARAMS, **_pairs(args.set))
    manifest = corpus.load_or_build(OUT / "corpus.json")
    all_queries = query_set.build(manifest, OUT / "queries", 50, 100)

    index = MemoryIndex(pairs_in_every_track=query.triplet_fan_out is None)  # one stage reads every pair
    names = {}
    started = time.perf_counter()
    seconds = 0.0
    for track_id, item in enumerate(manifest["indexed"]):
        x = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(x, reference), sk.sketch(x) if not args.no_sketches else None)
        names[track_id] = item["path"]
        seconds += x.size / 8000
    print(
        f"reference: {len(index) / seconds:.1f} hashes/s, "
        f"fingerprinting {seconds / (time.perf_counter() - started):.0f}x"
    )
    options = {}
    if args.shortlist is not None:
        options["candidates"] = args.shortlist
    if args.retry_fan_out is not None:
        options["retry_triplet_fan_out"] = args.retry_fan_out
    if args.retry_shifts is not None:
        options["retry_shifts"] = args.retry_shifts
    if args.no_smoothed_retry:
        options["smoothed_params"] = None
    if args.variants is not None:
        options["speed_variants"] = tuple(float(v) for v in args.variants.split(",") if v)
    # Rows the lookups return for each 5 s query: what the database must read. Lookups in every
    # track (stage 1, or the only stage) are extrapolated to 10^8 rows as if new music followed
    # this corpus's hash distribution (the effective number of hash values, 1 / sum(p^2), is
    # what sets it; a small corpus underestimates it for wide hashes, so the extrapolation is
    # pessimistic for them). Stage 2 reads a few tracks' rows whatever the table's size.
    rows_read = [0, 0]  # every track, candidates only
    probes = [0]  # distinct values looked up in every track: index probes in the store

    lookup = index.lookup

    def counted_lookup(hashes, tracks=None):
        found = lookup(hashes, tracks)
        if tracks is None:
            probes[0] += arrays.distinct(hashes).size
        rows_read[tracks is not None] += found.hashes.size
        return found

    index.lookup = counted_lookup
    engine = Identifier(
        index,
        sketches=not args.no_sketches,
        params=query,
        match_params=match_params,
        **options,
    )

    conditions = args.conditions.split(",")
    counts: dict[tuple[str, float], list[int]] = {}
    unknown = {"held_out": [0, 0], "foreign": [0, 0]}
    latency = []
    reads: list[int] = []
    unknown_probes: list[int] = []
    ranks: dict[tuple[str, float], list[int]] = {}
    wanted_lengths = [float(v) for v in args.lengths.split(",")] if args.lengths else None
    for q in all_queries:
        per_cell_key = (q.condition, q.length_s)
        if wanted_lengths is not None and q.length_s not in wanted_lengths:
            continue
        if q.kind == "known":
            if q.condition not in conditions or counts.get(per_cell_key, [0, 0])[1] >= args.per_cell:
                continue
        elif unknown[q.kind][1] >= args.per_cell * 10:
            continue
        samples = audio.decode(q.path, sample_rate_hz=8000, max_seconds=30)
        started = time.perf_counter()
        rows_read[:] = [0, 0]
        probes[0] = 0
        match = engine.identify(samples)
        latency.append(time.perf_counter() - started)
        if q.length_s == 5:
            reads.append(tuple(rows_read))
            if q.kind != "known":
                unknown_probes.append(probes[0])
        if args.candidates and q.kind == "known":
            ranks.setdefault(per_cell_key, []).append(_true_rank(engine, samples, names, q.source))
        found = names.get(match.track_id) if match else None
        same = found is not None and versions.same_recording(
            q.source, q.start_s, found, fp.frames_to_seconds(match.offset_frames), q.length_s
        )
        if q.kind == "known":
            cell = counts.setdefault(per_cell_key, [0, 0])
            cell[0] += same
            cell[1] += 1
        else:
            unknown[q.kind][0] += found is not None and not same
            unknown[q.kind][1] += 1
    lengths = query_set.LENGTHS_S
    print("condition  " + "".join(f"{length:>7g}s" for length in lengths))
    for condition in conditions:
        cells = [counts.get((condition, float(length)), [0, 0]) for length in lengths]
        print(f"{condition:10s} " + "".join(f"{100 * c[0] / max(c[1], 1):7.1f}%" for c in cells))
    for kind, (matched, total) in unknown.items():
        print(f"false matches {kind}: {matched}/{total}")
    if args.candidates:
        print("stage 1: true track ranked first / in the top 5 by the false-match bound of its best alignment")
        for condition in conditions:
            cells = [np.asarray(ranks.get((condition, float(length)), [99])) for length in lengths]
            shares = "".join(f"{100 * np.mean(r < 1):4.0f}/{100 * np.mean(r < 5):3.0f}" for r in cells)
            print(f"{condition:10s} {shares}")
    stored = index.hash_counts()
    if not reads:  # no 5 s query in this run
        reads.append((0, 0))
    effective = stored.sum() ** 2 / (stored.astype(np.float64) ** 2).sum()
    scale = 1e8 / stored.sum()
    everywhere, in_candidates = np.asarray(reads).T
    at_scale = everywhere * scale + in_candidates
    print(
        f"distinct hashes {stored.size}, effective {effective:.0f}; rows read by a 5 s query: "
        f"median {np.median(everywhere + in_candidates):.0f}, p95 {np.percentile(everywhere + in_candidates, 95):.0f} "
        f"(in every track: median {np.median(everywhere):.0f}; in the candidates: median "
        f"{np.median(in_candidates):.0f}); at 10^8 rows: median {np.median(at_scale):.0f}, "
        f"p95 {np.percentile(at_scale, 95):.0f}"
    )
    if unknown_probes:
        print(
            f"values looked up in every track by a 5 s never-indexed clip (as heard and retried): "
            f"median {np.median(unknown_probes):.0f}, p95 {np.percentile(unknown_probes, 95):.0f}"
        )
    print(
        f"engine latency without the database: p50 {1000 * np.median(latency):.1f} ms, "
        f"p95 {1000 * np.percentile(latency, 95):.1f} ms"
    )


if __name__ == "__main__":
    main()
