"""This checkout's engine against the one at an earlier commit, on the grown catalog, interleaved.

    .venv/bin/python -m bench.studies.engine_ab --base COMMIT [--db earshot_growth] [--queries 50]
        [--rounds 3] [--out bench/results/studies/NAME.json]

For a change meant to make a query faster and answer the same (after `python -m bench.growth`,
which leaves earshot_growth grown to its largest size): COMMIT's tree is unpacked into a
temporary folder (`git archive`, this checkout untouched), and each round times the growth
benchmark's 5 s queries (50 catalog clips, 50 never-indexed) in one process per tree, COMMIT's
first, then this checkout's, as `bench.growth` measures them (10 queries' warm-up, then every
query once). Reports each run's p50 / p95 (all queries, and the never-indexed alone) and the
never-indexed clips' mean CPU of the process (every thread, from os.times: less noisy than their
wall time on a shared machine), the medians over the rounds, and every query whose answer
(track, place, score, bound, speed, pitch) differs between the trees: none should.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import OUT, ROOT

# Run in each tree's own folder, so that `bench` and `recognition` are that tree's.
_TIMING = """
import json, os, sys, time
from bench import growth
growth.open_database(sys.argv[1])
from recognition import store
from recognition.services import identifier
queries, truth = growth.load_queries(int(sys.argv[2]))
store.forget_triplet_filters()
engine = identifier()
for _, samples in queries[:10]:
    engine.identify(samples)
runs = []
for query, samples in queries:
    before = os.times()
    started = time.perf_counter()
    match = engine.identify(samples)
    spent = (time.perf_counter() - started) * 1000
    after = os.times()
    cpu = (after.user - before.user + after.system - before.system) * 1000
    answer = None if match is None else [
        match.track_id, round(match.offset_frames, 3), match.score, round(match.log10_p, 6),
        round(match.speed, 6), round(match.pitch_semitones, 6)]
    runs.append({"id": query["id"], "known": query["kind"] == "known", "ms": spent, "cpu_ms": cpu, "answer": answer})
print(json.dumps(runs))
"""


def _quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[round(0.95 * (len(ordered) - 1))]


def _time(tree: Path, db: str, queries: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", _TIMING, db, str(queries)], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--db", default="earshot_growth")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="where the JSON goes (default: printed only)")
    args = parser.parse_args()
    base = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = bool(status.stdout)
    runs: list[dict] = []
    answers: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="earshot_ab_") as folder:
        tree = Path(folder)
        archive = subprocess.run(["git", "archive", base], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        (tree / "bench" / "out").symlink_to(OUT)  # the same decoded queries for both
        for round_ in range(1, args.rounds + 1):
            for arm, root in (("base", tree), ("this", ROOT)):
                timed = _time(root, args.db, args.queries)
                every = _quantiles([q["ms"] for q in timed])
                unknown = _quantiles([q["ms"] for q in timed if not q["known"]])
                cpu = statistics.mean(q["cpu_ms"] for q in timed if not q["known"])
                run = {
                    "round": round_,
                    "arm": arm,
                    "p50_p95_ms": every,
                    "unknown_p50_p95_ms": unknown,
                    "unknown_cpu_ms": cpu,
                }
                runs.append(run)
                print(json.dumps({k: v if k != "p50_p95_ms" else [round(x, 1) for x in v] for k, v in run.items()}))
                for q in timed:
                    answers.setdefault(q["id"], {})[arm] = q["answer"]
    differ = sorted(i for i, a in answers.items() if a.get("base") != a.get("this"))
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python -m bench.studies.engine_ab", *sys.argv[1:]]),
        "base": base,
        "this": head.stdout.strip() + (" with uncommitted changes" if dirty else ""),
        "db": args.db,
        "runs": runs,
        "median_p50_p95_ms": {
            arm: [round(statistics.median(r["p50_p95_ms"][i] for r in runs if r["arm"] == arm), 1) for i in (0, 1)]
            for arm in ("base", "this")
        },
        "median_unknown_p50_p95_ms": {
            arm: [
                round(statistics.median(r["unknown_p50_p95_ms"][i] for r in runs if r["arm"] == arm), 1) for i in (0, 1)
            ]
            for arm in ("base", "this")
        },
        "median_unknown_cpu_ms": {
            arm: round(statistics.median(r["unknown_cpu_ms"] for r in runs if r["arm"] == arm), 1)
            for arm in ("base", "this")
        },
        "queries": len(answers),
        "answers_differ": differ,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
