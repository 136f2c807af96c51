"""How many of a clip's probes an earlier clip made: what a cache of rows kept across clips could save.

    .venv/bin/python -m bench.studies.probe_repeats [--db earshot_growth] [--queries 100] [--every 20]

On the grown catalog (after `python -m bench.growth`), runs the benchmark's 5 s catalog clips
(every condition) and never-indexed clips, alternating, through one engine in one process, as a
server's process sees a stream of clips. For each clip it records the values its lookups in
every track send to the primary key (past the presence filter: the probes) and the rows they
return, and counts those an earlier clip of the run had probed: all earlier clips, and earlier
clips cut from another recording (a value asked again by a clip of the same song says more about
the query stream than about music). Prints, for each block of `--every` clips, each kind's
share of probes and of rows so repeated. Nothing is cached: this measures what a cache could
answer, not what it would cost.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench import OUT, growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="earshot_growth")
    parser.add_argument("--queries", type=int, default=100, help="clips of each kind")
    parser.add_argument("--every", type=int, default=20, help="clips a printed block")
    args = parser.parse_args()
    growth.open_database(args.db)
    from django.db import connection

    from recognition import store
    from recognition.engine import audio
    from recognition.services import identifier
    from recognition.store.presence import triplet_filter

    listing = json.loads((OUT / "queries" / "queries.json").read_text())["queries"]
    foreign = [q for q in listing if q["kind"] == "foreign" and q["length_s"] == 5][: args.queries]
    known = [q for q in listing if q["kind"] == "known" and q["length_s"] == 5][: args.queries]
    clips = [q for pair in zip(known, foreign, strict=False) for q in pair]
    store.forget_triplet_filters()
    engine = identifier()
    engine.index.ask_ahead = False  # every lookup through `recorded` below, none on the helper's connection
    lookup = engine.index.lookup
    asked: dict[str, list[np.ndarray]] = {"probes": [], "rows": []}

    def recorded(hashes, tracks=None, **kwargs):
        rows = lookup(hashes, tracks, **kwargs)
        if tracks is None:
            with connection.cursor() as cursor:
                may_hold = triplet_filter(cursor).may_hold
            values = np.unique(hashes)
            asked["probes"].append(values[may_hold(values)])
            asked["rows"].append(np.asarray(rows.hashes, np.int64))
        return rows

    engine.index.lookup = recorded
    first_source: dict[int, str] = {}  # value -> the recording of the first clip that probed it
    counts: list[tuple[str, int, int, int, int, int]] = []
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: {store.table_size()['triplet_rows']:,} triplet rows; "
          f"{len(known)} catalog clips (every condition) and {len(foreign)} never-indexed clips of "
          f"{len({q['source'] for q in foreign})} recordings, alternating")  # fmt: skip
    print("clips  kind      probes  repeated  of another recording  rows repeated")
    for n, query in enumerate(clips, 1):
        samples = audio.decode(query["path"], sample_rate_hz=8000, max_seconds=30)
        asked["probes"].clear()
        asked["rows"].clear()
        engine.identify(samples)
        probes = np.unique(np.concatenate([np.empty(0, np.int64), *asked["probes"]]))
        rows = np.concatenate([np.empty(0, np.int64), *asked["rows"]])
        earlier = [first_source.get(value) for value in probes.tolist()]
        repeated = np.array([source is not None for source in earlier], bool)
        other = np.array([source is not None and source != query["source"] for source in earlier], bool)
        repeated_rows = int(np.isin(rows, probes[repeated]).sum())
        kind = "catalog" if query["kind"] == "known" else "unknown"
        counts.append((kind, probes.size, int(repeated.sum()), int(other.sum()), rows.size, repeated_rows))
        for value in probes.tolist():
            first_source.setdefault(value, query["source"])
        if n % args.every == 0:
            for label in ("catalog", "unknown"):
                block = [c for c in counts[-args.every :] if c[0] == label]
                total, rows_total = sum(c[1] for c in block), sum(c[4] for c in block)
                share = [100 * sum(c[i] for c in block) / max(1, total) for i in (2, 3)]
                print(f"{n:5d}  {label:8s} {total:7d}  {share[0]:7.1f} %  {share[1]:19.1f} %  "
                      f"{100 * sum(c[5] for c in block) / max(1, rows_total):11.1f} %")  # fmt: skip
    print(f"distinct values probed: {len(first_source):,}")


if __name__ == "__main__":
    main()
