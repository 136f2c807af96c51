"""What the engine's sorts and row searches cost on arrays shaped like a clip's at 10^8 rows.

    .venv/bin/python -m bench.studies.sort_runs [--repeats 200]

numpy alone, no database: medians of `--repeats` timings of each way, on the values a
never-indexed clip's lookups hand the engine (docs/decisions.md, "Sorts of values in runs
merged"): 30,000 values already sorted, two sorted runs end to end (the memo's union of the
values asked and those just asked), 8,000 values in no order, and values sorted but for small
groups (a clip's hashes in time order, each anchor's in no order), each by numpy's default
sort, by its merge sort and by `arrays.sort`; a lookup memo of 60,000 rows asked 3,000 values,
each row tested against the values or each value's run found by binary search; five pair lists
of 12,000 pairs asked 7,482 hashes, each pair tested in a table or each hash searched in each
list. The sorts' table is timed twice: with numpy as it finds the machine, and in a child
process with numpy's SIMD dispatch turned off (NPY_DISABLE_CPU_FEATURES), as on a machine
without AVX2, where numpy's default sort is not x86-simd-sort; `arrays.sort` times which way it
sorts values sorted but for small groups once per process (`arrays.merges_small_groups`).
Results go to bench/results/studies/sort_runs.json, beside earlier runs (other machines), and
into docs/decisions.md through `python -m bench.report` (block `sort_runs`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench import RESULTS
from recognition.engine import arrays

OUTPUT = RESULTS / "studies" / "sort_runs.json"


def _median_us(work: Callable[[], object], repeats: int) -> float:
    work()
    spent = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent) * 1e6


def sorts(repeats: int) -> dict:
    """The sorts' table: each shape by numpy's default sort, its merge sort and `arrays.sort`, in
    microseconds; and which way `arrays.sort` takes values sorted but for small groups here."""
    rng = np.random.default_rng(0)
    held = arrays.distinct(rng.integers(0, 2**32, 30_000))
    shapes = {
        "30,000 sorted": held,
        "30,000 + 8,000 in two sorted runs": np.concatenate([held, arrays.distinct(rng.integers(0, 2**32, 8_000))]),
        "8,000 in no order": rng.integers(0, 2**32, 8_000),
        # Hashes in time order, each anchor's 15 in no order, two sub-frame shifts end to end.
        "8,000 sorted but for groups of 15, twice": np.concatenate([arrays.small_groups(rng) for _ in range(2)]),
    }
    rows = []
    for name, values in shapes.items():
        ways = (
            lambda v=values: np.sort(v),
            lambda v=values: np.sort(v, kind="stable"),
            lambda v=values: arrays.sort(v),
        )
        rows.append([name, *(round(_median_us(way, repeats)) for way in ways)])
    return {"rows": rows, "merges_small_groups": arrays.merges_small_groups()}


def searches(repeats: int) -> dict:
    """The memo's rows tested or searched, and pair lists tested in a table or searched, in
    microseconds."""
    rng = np.random.default_rng(1)
    # The memo: rows sorted by hash (three rows a value), values asked half among them.
    stored = arrays.distinct(rng.integers(-(2**31), 2**31, 20_000))
    hashes = np.repeat(stored, 3).astype(np.int32)
    asked = np.concatenate([rng.choice(stored, 1_500), rng.integers(-(2**31), 2**31, 1_500)])
    wanted = arrays.distinct(asked.astype(np.int32))
    new_rows = arrays.sort(rng.integers(-(2**31), 2**31, 20_000).astype(np.int32))
    memo = {
        "rows": hashes.size,
        "values": wanted.size,
        "new_rows": new_rows.size,
        "each_row_tested_us": round(_median_us(lambda: np.flatnonzero(arrays.isin_sorted(hashes, wanted)), repeats)),
        "each_value_searched_us": round(
            _median_us(lambda: arrays.ranges(*np.searchsorted(hashes, [wanted, wanted + 1])), repeats)
        ),
        "new_rows_merged_us": round(
            _median_us(lambda: np.argsort(np.concatenate([hashes, new_rows]), kind="stable"), repeats)
        ),
    }

    # Pair lists: sorted (hash << 32 | frame) values, hashes in [0, 2^21).
    lists = [arrays.sort((rng.integers(0, 1 << 21, 12_000) << 32) | rng.integers(0, 20_000, 12_000)) for _ in range(5)]
    pair_hashes = arrays.distinct(rng.integers(0, 1 << 21, 7_482))

    def table() -> np.ndarray:
        values = np.concatenate(lists)
        return values[arrays.isin_sorted(values >> 32, pair_hashes)]

    def search() -> np.ndarray:
        first = pair_hashes << 32
        return np.concatenate([v[arrays.ranges(*np.searchsorted(v, [first, first + (1 << 32)]))] for v in lists])

    assert np.array_equal(table(), search())
    pair_lists = {
        "lists": len(lists),
        "pairs_each": 12_000,
        "hashes": pair_hashes.size,
        "in_table_us": round(_median_us(table, repeats)),
        "searched_us": round(_median_us(search, repeats)),
    }
    return {"memo": memo, "pair_lists": pair_lists}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--sorts-only", action="store_true", help="print the sorts' JSON alone (the child's part)")
    args = parser.parse_args()
    if args.sorts_only:
        print(json.dumps(sorts(args.repeats)))
        return
    from numpy._core._multiarray_umath import __cpu_dispatch__  # the dispatch targets numpy found

    disabled = " ".join(__cpu_dispatch__)
    child = subprocess.run(
        [sys.executable, "-m", "bench.studies.sort_runs", "--repeats", str(args.repeats), "--sorts-only"],
        env={**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled},
        capture_output=True,
        text=True,
        check=True,
    )
    run = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "command": f"python -m bench.studies.sort_runs --repeats {args.repeats}",
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {_cpu_model()}",
        "dispatch": list(__cpu_dispatch__),
        "sorts": {"as found": sorts(args.repeats), "SIMD dispatch off": json.loads(child.stdout)},
        **searches(args.repeats),
    }
    earlier = json.loads(OUTPUT.read_text())["runs"] if OUTPUT.exists() else []
    OUTPUT.write_text(json.dumps({"runs": [*earlier, run]}, indent=1) + "\n")
    print(json.dumps(run, indent=1))


def _cpu_model() -> str:
    """The CPU's model name as the kernel reports it (a VM's may hide the generation)."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
