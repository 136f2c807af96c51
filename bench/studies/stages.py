"""Where a query's time goes, stage by stage, on the grown catalog (after `python -m bench.growth`).

    .venv/bin/python -m bench.studies.stages [--queries 50] [--db earshot_growth]

Times the growth benchmark's 5 s queries (clean catalog clips and never-indexed clips) through
the engine as the portal runs it, and splits each query's time into its phases: the clip as
heard, the retry smoothed in time, the speed retries; within each, the database lookups in
every track (stage 1) and in named tracks (stage 2), and the check on sketches. The denser look
(between the smoothed retry and the speed retries) is a phase of its own. Prints p50 and p95 of
each part, catalog and unknown clips apart. Lookups are not asked ahead (each phase waits for its
own), so the phases add up to the clip as the engine ran before asking ahead.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict

import numpy as np

from bench import growth


class StageClock:
    """Wraps an Identifier's lookup, sketch check and retries so that each query's time is split
    by phase."""

    def __init__(self, engine, may_hold):
        self.engine = engine
        self.phase = "as heard"
        self._dense_started: float | None = None  # while the denser look runs
        self.spent: dict[str, float] = defaultdict(float)
        self.counted: dict[str, int] = defaultdict(int)
        self._may_hold = may_hold
        # Every lookup on this thread, where the clock sees it: none asked ahead on the helper's
        # connection, whose time would overlap the phases (docs/decisions.md, ask_ahead).
        engine.index.ask_ahead = False
        engine.index.lookup = self._counted(
            self._timed(
                engine.index.lookup,
                lambda _hashes, tracks=None, **_: "stage 1 lookup" if tracks is None else "stage 2 lookup",
            )
        )
        from recognition.engine.identify import decisions, retries

        decisions.check_sketches = self._timed(decisions.check_sketches, lambda *_, **__: "sketch check")
        for name, phase in (("smoothed_retry", "smoothed retry"), ("speed_retry", "speed retry")):
            setattr(retries, name, self._timed(getattr(retries, name), lambda *_, **__: "all", phase=phase))
        # The denser look runs inline in identify_clip, after the smoothed retry: it starts where
        # the clip is fingerprinted with the denser params and ends where the speed retries start
        # (or the clip's answer returns).
        from recognition.engine import fingerprint

        fingerprinted = fingerprint.fingerprint

        def marked(samples, params, **kwargs):
            if params is engine.dense_params and params is not None:
                self.phase = "denser look"
                self._dense_started = time.perf_counter()
            return fingerprinted(samples, params, **kwargs)

        fingerprint.fingerprint = marked

    def _timed(self, method, part, *, phase=None):
        """`method`, its time added to "<phase>: <part(arguments)>"; with `phase`, it starts it."""

        def timed(*args, **kwargs):
            if phase is not None:
                self._end_dense()
                self.phase = phase
            with self._clock(f"{self.phase}: {part(*args, **kwargs)}"):
                return method(*args, **kwargs)

        return timed

    def _counted(self, lookup):
        """`lookup`, with what a lookup in every track asks of the store counted (outside the
        clock): distinct triplet values, those the presence filter lets through (the primary
        key's probes), and the rows they return."""

        def counted(hashes, tracks=None, **kwargs):
            rows = lookup(hashes, tracks, **kwargs)
            if tracks is None:
                values = np.unique(hashes)
                self.counted[f"{self.phase}: stage 1 values"] += values.size
                self.counted[f"{self.phase}: stage 1 probes"] += int(self._may_hold(values).sum())
                self.counted[f"{self.phase}: stage 1 rows"] += len(rows.hashes)
            return rows

        return counted

    def _end_dense(self) -> None:
        if self._dense_started is not None:
            self.spent["denser look: all"] += (time.perf_counter() - self._dense_started) * 1000
            self._dense_started = None

    @contextlib.contextmanager
    def _clock(self, label):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.spent[label] += (time.perf_counter() - started) * 1000

    def identify(self, samples):
        self.phase = "as heard"
        self.spent = defaultdict(float)
        self.counted = defaultdict(int)
        started = time.perf_counter()
        self._dense_started = None
        match = self.engine.identify(samples)
        self._end_dense()
        self.spent["total"] = (time.perf_counter() - started) * 1000
        retries = sum(self.spent.get(f"{phase}: all", 0) for phase in ("smoothed retry", "denser look", "speed retry"))
        self.spent["as heard: all"] = self.spent["total"] - retries
        return match, dict(self.spent), dict(self.counted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--db", default="earshot_growth")
    args = parser.parse_args()
    growth.open_database(args.db)
    from django.db import connection

    from recognition import store
    from recognition.services import identifier
    from recognition.store.presence import triplet_filter

    def may_hold(values):
        with connection.cursor() as cursor:
            return triplet_filter(cursor).may_hold(values)

    queries, truth = growth.load_queries(args.queries)
    store.forget_triplet_filters()
    clock = StageClock(identifier(), may_hold)
    for _, samples in queries[:10]:  # warm the caches, as a running server's are
        clock.identify(samples)
    parts: dict[str, dict[str, list[float]]] = {"catalog": defaultdict(list), "unknown": defaultdict(list)}
    counts: dict[str, dict[str, list[int]]] = {"catalog": defaultdict(list), "unknown": defaultdict(list)}
    right = 0
    for query, samples in queries:
        match, spent, counted = clock.identify(samples)
        kind = "catalog" if query["kind"] == "known" else "unknown"
        right += kind == "catalog" and match is not None and truth.get(match.track_id) == query["source"]
        for label in spent.keys() | parts[kind].keys():
            parts[kind][label].append(spent.get(label, 0.0))
        for label in counted.keys() | counts[kind].keys():
            counts[kind][label].append(counted.get(label, 0))
    print(f"{store.table_size()['triplet_rows']:,} triplet rows; catalog clips right: {right}")
    for kind, spent in parts.items():
        print(f"\n{kind} clips ({len(spent['total'])}): ms p50 / p95")
        for label in sorted(spent, key=lambda name: (name != "total", name)):
            print(f"  {label:36s} {_p50_p95(spent[label], '7.1f')}")
        print(f"{kind} clips, asked of the store per query: p50 / p95")
        for label in sorted(counts[kind]):
            print(f"  {label:36s} {_p50_p95(counts[kind][label], '7.0f')}")


def _p50_p95(values: list, spec: str) -> str:
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    return f"{statistics.median(ordered):{spec}} {p95:{spec}}"


if __name__ == "__main__":
    main()
