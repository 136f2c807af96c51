"""What a never-indexed clip costs the machine on the grown catalog: wall time, the process's CPU
and PostgreSQL's, with the later lookups asked ahead and not (after `python -m bench.growth`).

    .venv/bin/python -m bench.studies.clip_cpu [--queries 50] [--rounds 3] [--db earshot_growth]

The growth benchmark's 5 s never-indexed clips (those that take every look, the p95 of
`make growth`) through the engine as the portal builds it, one engine asking ahead and one not,
in alternating rounds after a warm-up. For each clip: its wall time, the CPU of this process
(every thread: the clip's and the helper's) and of this process's PostgreSQL backends, read from
/proc (the database must run on this machine). Prints, per engine, wall p50 / p90 and the mean
CPU of each side, and how many cores the clips kept busy on average: near the machine's count, a
clip's time can only fall with its CPU.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np

from bench import growth
from bench.studies.api_profile import cpu_s


def _backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", default="earshot_growth")
    args = parser.parse_args()
    growth.open_database(args.db)

    from recognition import store
    from recognition.engine.identify import Identifier
    from recognition.services import identifier
    from recognition.store import PostgresIndex

    queries, _ = growth.load_queries(args.queries)
    unknown = [samples for query, samples in queries if query["kind"] != "known"]
    store.forget_triplet_filters()
    portal = identifier()  # the portal's settings; the index's asking ahead set apart
    engines: dict[str, Identifier] = {
        "asked ahead": replace(portal, index=PostgresIndex(ask_ahead=True)),
        "not asked ahead": replace(portal, index=PostgresIndex(ask_ahead=False)),
    }
    for engine in engines.values():  # warm the caches and open both connections
        for samples in unknown[:10]:
            engine.identify_clip(samples)
    pids = _backends()
    measured: dict[str, list[tuple[float, float, float]]] = {name: [] for name in engines}
    for round_number in range(args.rounds):
        order = list(engines) if round_number % 2 == 0 else list(engines)[::-1]
        for name in order:
            for samples in unknown:
                before_pg = cpu_s(pids)
                before = os.times()
                started = time.perf_counter()
                engines[name].identify_clip(samples)
                wall = time.perf_counter() - started
                after = os.times()
                own = (after.user - before.user) + (after.system - before.system)
                measured[name].append((wall, own, cpu_s(pids) - before_pg))
    print(f"{len(unknown)} never-indexed 5 s clips x {args.rounds} rounds on {args.db}; {len(pids)} backends")
    print("engine | wall p50 / p90 ms | CPU this process, mean ms | CPU PostgreSQL, mean ms | cores busy")
    for name, rows in measured.items():
        wall, own, pg = (np.array(column) for column in zip(*rows, strict=True))
        print(
            f"{name} | {1000 * np.median(wall):.1f} / {1000 * np.percentile(wall, 90):.1f} | "
            f"{1000 * own.mean():.1f} | {1000 * pg.mean():.1f} | {(own.sum() + pg.sum()) / wall.sum():.2f}"
        )


if __name__ == "__main__":
    main()
