"""The engine's CPU on the robustness set (issue 38): the engine at a commit beside this checkout's.

    .venv/bin/python -m bench.studies.robustness_cpu --before 607cdab [--per-cell 20] [--unknown 1000] [--lengths 5]

The clips of bench/studies/robustness.py (`selected`: `--per-cell` clips a condition and length of
music never used for tuning, the first `--unknown` never-indexed clips) against its in-memory
index, through three engines: the engine at COMMIT (`engine_at`: imported beside this checkout's),
this checkout's, and this checkout's with the denser look (`fp.QUERY_DENSE`), each clip through
every engine in turn, the order rotating clip by clip (the machine is shared). Per engine, kind
(known, unknown) and clip length, the CPU a clip takes (p50, p95), where an unknown 5 s clip's CPU
goes (`PhaseClock`), the answers right and matched, and the clips whose answer differs between
COMMIT and this checkout without the look (track, place, score, bound, speed, pitch: none should,
when only the engine's speed changed). Results go to bench/results/robustness_cpu.json, quoted by
the `robustness_cpu` report block (`make report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from bench import OUT, RESULTS, ROOT, corpus, versions
from bench import queries as query_set
from bench.studies import robustness
from recognition.engine import fingerprint as fp
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "robustness_cpu.json"


def engine_at(commit: str) -> dict[str, ModuleType]:
    """The modules of `commit`'s engine (recognition.engine...), imported beside this checkout's:
    recognition/engine unpacked from git once into the system's temporary folder, imported, then
    taken out of sys.modules so that this checkout's own stay what `recognition.engine` names (the
    engine imports nothing but itself, numpy and scipy, and nothing lazily)."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"earshot-engine-{short}"
    if not (tree / "recognition" / "engine" / "__init__.py").exists():
        archive = subprocess.run(
            ["git", "archive", short, "recognition/__init__.py", "recognition/engine"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout  # fmt: skip
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)

    def ours() -> dict[str, ModuleType]:
        return {name: m for name, m in sys.modules.items() if name == "recognition" or name.startswith("recognition.")}

    kept = ours()
    for name in kept:
        del sys.modules[name]
    sys.path.insert(0, str(tree))
    try:
        importlib.import_module("recognition.engine")
        theirs = ours()
    finally:
        sys.path.remove(str(tree))
        for name in ours():
            del sys.modules[name]
        sys.modules.update(kept)
    return theirs


class PhaseClock:
    """CPU time split by phase of the engine, each phase's own (a phase called inside another is
    taken out of it): functions of an engine's modules wrapped in place, each charged to its
    phase; what no wrapped function takes is the clip's `rest` (votes, rankings, decisions)."""

    # (module, attribute, phase): where each engine's phases are called from.
    PHASES = (
        ("recognition.engine.identify.identifier", "Identifier.identify_clip", "votes and decisions"),
        ("recognition.engine.fingerprint", "constellation", "peaks"),
        ("recognition.engine.fingerprint.hashes", "constellation", "peaks"),
        ("recognition.engine.fingerprint", "hash_constellation", "hashing as heard, smoothed, denser"),
        ("recognition.engine.fingerprint.hashes", "hash_constellation", "hashing as heard, smoothed, denser"),
        ("recognition.engine.fingerprint", "hash_variants", "hashing the speed retries"),
        ("recognition.engine.sketch", "query_sketch", "sketches"),
        ("recognition.engine.identify.decisions", "check_sketches", "sketches"),
    )

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self._stack: list[str] = []
        self._mark = 0.0

    def wrap(self, modules: dict[str, ModuleType]) -> None:
        """Charge the phases of the engine whose modules these are to this clock."""
        for module, attribute, phase in self.PHASES:
            owner: object = modules[module]
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, name, self.timed(getattr(owner, name), phase))

    def timed(self, function: Callable, phase: str) -> Callable:
        """`function`, its CPU charged to `phase`."""

        def timed(*args, **kwargs):
            self._switch(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self._switch(None)

        return timed

    def _switch(self, phase: str | None) -> None:
        now = time.process_time()
        if self._stack:
            self.spent[self._stack[-1]] += now - self._mark
        if phase is None:
            self._stack.pop()
        else:
            self._stack.append(phase)
        self._mark = now


def _answer(match) -> dict | None:
    """A match's fields, comparable between two engines' Match classes."""
    return None if match is None else dataclasses.asdict(match)


def run(
    index: MemoryIndex, names: dict[int, str], queries: list[query_set.Query], clips: dict[str, np.ndarray], before: str
) -> dict:
    """Each clip through the engine at `before` and this checkout's, without and with the denser
    look, in turn; their CPU, where an unknown clip's goes, and the answers that differ."""
    theirs = engine_at(before)
    ours = {name: m for name, m in sys.modules.items() if name.startswith("recognition.engine")}
    engines = {
        "before": theirs["recognition.engine.identify"].Identifier(index),
        "now": Identifier(index, dense_params=None),
        "now, denser look": Identifier(index, dense_params=fp.QUERY_DENSE),
    }
    clocks = {arm: PhaseClock() for arm in engines}
    clocks["before"].wrap(theirs)
    clocks["now"].wrap(ours)  # both of this checkout's engines share its modules, and so the clock
    clocks["now, denser look"] = clocks["now"]
    lookups = PhaseClock()
    index.lookup = lookups.timed(index.lookup, "lookups (memory index)")  # type: ignore[method-assign]
    load = os.getloadavg()[0]
    ms: dict[str, dict[str, dict[str, list[float]]]] = {arm: defaultdict(lambda: defaultdict(list)) for arm in engines}
    phases: dict[str, dict[str, float]] = {arm: defaultdict(float) for arm in engines}
    judged: dict[str, dict[str, int]] = {arm: defaultdict(int) for arm in engines}
    differ: list[str] = []
    arms = list(engines)
    for number, q in enumerate(queries):
        x = clips[q.id].astype(np.float32) / 32767
        kind = "known" if q.kind == "known" else "unknown"
        answers = {}
        for arm in arms[number % len(arms) :] + arms[: number % len(arms)]:
            clock = clocks[arm]
            clock.spent.clear()
            lookups.spent.clear()
            started = time.process_time()
            match = engines[arm].identify(x)
            spent = time.process_time() - started
            ms[arm][kind][f"{q.length_s:g}"].append(1000 * spent)
            if kind == "unknown" and q.length_s == 5:
                for phase, seconds in [*clock.spent.items(), *lookups.spent.items()]:
                    phases[arm][phase] += 1000 * seconds
                phases[arm]["votes and decisions"] -= 1000 * sum(lookups.spent.values())
            found = names.get(match.track_id) if match else None
            right = found is not None and versions.same_recording(
                q.source, q.start_s, found, fp.frames_to_seconds(match.offset_frames) if match else None, q.length_s
            )
            judged[arm][f"{kind} {'right' if right else 'matched' if found else 'none'}"] += 1
            answers[arm] = _answer(match)
        if answers["before"] != answers["now"]:
            differ.append(q.id)
        if (number + 1) % 100 == 0:
            print(f"cpu: {number + 1}/{len(queries)}, answers differing: {len(differ)}", flush=True)
    del index.lookup
    unknown_5s = max(1, sum(1 for q in queries if q.kind != "known" and q.length_s == 5))
    return {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "before": subprocess.run(
            ["git", "rev-parse", "--short", before], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip(),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        "clips": {
            "known": sum(1 for q in queries if q.kind == "known"),
            "unknown": sum(1 for q in queries if q.kind != "known"),
        },
        "answers_differing": differ,
        "arms": {
            arm: {
                "ms": {
                    kind: {
                        length: {"clips": len(v), "p50": float(np.median(v)), "p95": float(np.percentile(v, 95))}
                        for length, v in sorted(by.items(), key=lambda item: float(item[0]))
                    }
                    for kind, by in ms[arm].items()
                },
                "unknown_5s_phases_ms": {phase: total / unknown_5s for phase, total in phases[arm].items()},
                "answers": dict(judged[arm]),
            }
            for arm in engines
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the commit whose engine is timed beside this checkout's")
    parser.add_argument("--per-cell", type=int, default=20, help="clips a condition and length (at most 50)")
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    parser.add_argument("--lengths", default="5", help="clip lengths in seconds, e.g. 1,2,3,5,10")
    parser.add_argument("--dry", action="store_true", help="print, do not save")
    args = parser.parse_args()

    manifest = query_set.robust_manifest(corpus.load_or_build(OUT / "corpus.json"))
    every = query_set.build_robust(corpus.load_or_build(OUT / "corpus.json"), OUT / "queries_robust", 50, 1000)
    lengths = {float(length) for length in args.lengths.split(",")}
    chosen = robustness.selected(every, set(query_set.ROBUST_CONDITIONS), args.per_cell, args.unknown)
    queries = [q for q in chosen if q.length_s in lengths]
    clips = robustness.decoded_clips(every)
    index, names = robustness.load_index(manifest)
    print(f"index: {len(index)} rows; clips: {len(queries)}", flush=True)
    found = run(index, names, queries, clips, args.before)
    print(json.dumps(found, indent=1), flush=True)
    if not args.dry:
        RESULTS_FILE.write_text(json.dumps(found, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
