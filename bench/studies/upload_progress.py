"""How an upload's progress follows its work: the timeline's first pass and its retries, timed.

    .venv/bin/python -m bench.studies.upload_progress [--runs 3] [--share 0.2 0.25 0.333 0.5]

An in-memory index of eight synthetic songs; inputs of six of them in a row (about six minutes),
as recorded, 2 % fast, 10 % fast and 20 % slow (tape-style), and six minutes of never-indexed
synthetic music. Each is run through `Identifier.timeline` `--runs` times, fed in 2 s chunks as
a decode would feed it, and every progress report is kept with the time it came and the phase
it came from (first pass, retries). From them, for each input (medians of the runs):

- the seconds of the first pass and of the retries, and the first pass's share of the time;
- the longest wait between two reports (a job's heartbeat comes with each), before (the first
  pass alone reported, the retries never) and now;
- how far the bar ran ahead of the share of the time elapsed at most, and how far behind it,
  before (the first pass's seconds over the input's, 100 % when the retries begin) and with the
  first pass given each `--share` of the bar (what long_inputs.FIRST_PASS_SHARE is chosen from).

Results: bench/results/upload_progress.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import numpy as np
from scipy import signal

from bench import RESULTS
from catalog.demo import synth_song
from recognition.engine import Identifier, MemoryIndex
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import long_inputs

OUTPUT = RESULTS / "upload_progress.json"
RATE = fp.QUERY.sample_rate_hz
SONGS = range(1, 9)
INPUTS = {"as recorded": 1.0, "2 % fast": 1.02, "10 % fast": 1.1, "20 % slow": 0.8, "never indexed": None}


def played_at(samples: np.ndarray, factor: float) -> np.ndarray:
    """The samples played `factor` times as fast, pitch and tempo together."""
    if factor == 1.0:
        return samples
    return signal.resample_poly(samples, 100, round(100 * factor)).astype(np.float32)


def one_run(engine: Identifier, samples: np.ndarray) -> dict:
    """The timeline of `samples` with its progress reports: (seconds since the start, phase, the
    fraction of that phase done)."""
    events: list[tuple[float, str, float]] = []
    share = long_inputs.FIRST_PASS_SHARE
    started = time.perf_counter()

    def heard(fraction: float) -> None:
        at = time.perf_counter() - started
        if fraction >= 1.0:
            events.append((at, "done", 1.0))
        elif fraction <= share + 1e-9:
            events.append((at, "first", fraction / share))
        else:
            events.append((at, "retries", (fraction - share) / (1 - share)))

    chunks = (samples[i : i + 2 * RATE] for i in range(0, samples.size, 2 * RATE))
    found = engine.timeline(chunks, progress=heard, duration_s=samples.size / RATE)
    total = time.perf_counter() - started
    first_end = max(at for at, phase, done in events if phase == "first")
    return {"events": events, "total_s": total, "first_s": first_end, "segments": len(found.segments)}


def bar(events: list[tuple[float, str, float]], first_share: float | None) -> list[tuple[float, float]]:
    """(time, what the bar shows from then on) for a first-pass share; None: as before (the first
    pass's seconds alone, nothing after it until the end)."""
    shown = []
    for at, phase, done in events:
        if first_share is None:
            if phase == "first":
                shown.append((at, done))
            elif phase == "done":
                shown.append((at, 1.0))
        elif phase == "first":
            shown.append((at, first_share * done))
        elif phase == "retries":
            shown.append((at, first_share + (1 - first_share) * done))
        else:
            shown.append((at, 1.0))
    return shown


def ahead_and_behind(shown: list[tuple[float, float]], total_s: float) -> dict[str, float]:
    """How far the bar ran ahead of the share of the time elapsed at most, and how far behind it,
    checked at each report and just before it (the bar stands still between reports)."""
    ahead = behind = value = 0.0
    for at, new in shown:
        for bar_value in (value, new):
            ahead = max(ahead, bar_value - at / total_s)
            behind = max(behind, at / total_s - bar_value)
        value = new
    return {"ahead": ahead, "behind": behind}


def longest_wait(shown: list[tuple[float, float]]) -> float:
    times = [0.0, *(at for at, _ in shown)]
    return max(b - a for a, b in itertools.pairwise(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--share", type=float, nargs="+", default=[0.2, 0.25, 1 / 3, 0.5])
    args = parser.parse_args(argv)
    songs = {seed: synth_song(seed, 60, RATE) for seed in SONGS}
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples), sk.sketch(samples))
    engine = Identifier(index)
    catalog_set = np.concatenate([songs[seed] for seed in list(SONGS)[:6]])
    unknown = np.concatenate([synth_song(9000 + seed, 60, RATE) for seed in range(6)])
    cells = {}
    for name, factor in INPUTS.items():
        samples = unknown if factor is None else played_at(catalog_set, factor)
        runs = [one_run(engine, samples) for _ in range(args.runs)]
        med = statistics.median
        cells[name] = {
            "audio_s": round(samples.size / RATE, 1),
            "segments": runs[0]["segments"],
            "first_pass_s": round(med(r["first_s"] for r in runs), 2),
            "retries_s": round(med(r["total_s"] - r["first_s"] for r in runs), 2),
            "first_pass_share": round(med(r["first_s"] / r["total_s"] for r in runs), 3),
            "longest_wait_s": {
                "before": round(med(longest_wait(bar(r["events"], None)) for r in runs), 2),
                "now": round(med(longest_wait(bar(r["events"], long_inputs.FIRST_PASS_SHARE)) for r in runs), 2),
            },
            "bar": {
                label: {
                    side: round(med(ahead_and_behind(bar(r["events"], s), r["total_s"])[side] for r in runs), 3)
                    for side in ("ahead", "behind")
                }
                for label, s in (("before", None), *((f"{s:.3f}", s) for s in args.share))
            },
        }
        print(name, json.dumps(cells[name]), flush=True)
    OUTPUT.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "runs": args.runs,
                "first_pass_share": round(long_inputs.FIRST_PASS_SHARE, 3),
                "shares": [f"{s:.3f}" for s in args.share],
                "inputs": cells,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
