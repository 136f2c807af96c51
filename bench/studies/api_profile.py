"""Where a partner API request's CPU goes, by part, the code before beside the code now (py-spy).

    .venv/bin/python -m bench.studies.api_profile --py-spy PATH [--database earshot_bench]
                                                  [--before COMMIT] [--seconds 20] [--clients 1]

Each version's server is started as that version deploys it (bench.latency.start_daphne) on the
benchmark's catalog; `--clients` partner clients post 5 s WAV clips (8 kHz, bench.latency's) for
`--seconds` while py-spy samples every thread of the server's processes that holds the GIL
(`--gil`, 250 Hz). A sample goes to the part named by its innermost frame of ours (or, below none,
of Daphne, Twisted, asyncio, asgiref); a part's figure is its share of the samples times the
server's CPU time per request (from /proc). py-spy is not a dependency of the project: install it
anywhere (`pip install --target DIR py-spy`) and pass its program. Results go to
bench/results/api_profile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import RESULTS, ROOT, latency

OUTPUT = RESULTS / "api_profile.json"

# (part, marks of the frames that belong to it). A sample goes to the part of its innermost frame
# that any part marks; a frame marked by two parts goes to the first listed.
PARTS = [
    ("WAV reader and decode", ["(recognition/engine/wav.py", "(recognition/engine/audio.py", "_decode_clip (",
                               "local_copy ("]),
    ("engine: fingerprints and votes", ["(recognition/engine/"]),
    ("store lookups (PostgreSQL COPY)", ["(recognition/store/"]),
    ("track summary for the answer", ["track_summaries (", "match_details ("]),
    ("recognition and play rows", ["plays_record (", "plays_of (", "recognition_submit ("]),
    ("API key lookup", ["(accounts/authentication.py", "get_usable_keys ("]),
    ("throttle (Redis)", ["(portal/throttling.py"]),
    ("usage counters (Redis)", ["(accounts/usage.py", "(accounts/middleware.py"]),
    ("request body and multipart", ["_upload_from (", "multipartparser", "(email/"]),
    ("response", ["_render (", "recognition_payload (", "(rest_framework/renderers.py"]),
    ("database connect and close", ["connect (psycopg2", "_close (django/db", "get_new_connection ("]),
    ("Django middleware and request log", ["(portal/logging.py", "(django/middleware/", "(django/contrib/"]),
    ("body limit and load shedder", ["(portal/middleware.py", "(portal/daphne_body_limit.py", "(portal/bodies.py"]),
    ("Django's ASGI handler, threads", ["(django/core/handlers/", "(asgiref/", "(concurrent/futures/",
                                         "(threading.py", "(portal/sync_threads.py"]),
    ("Daphne, Twisted, asyncio", ["(daphne/", "(twisted/", "(asyncio/", "(selectors.py"]),
]  # fmt: skip


def part_of(stack: list[str]) -> str:
    """The part a sample belongs to: that of its innermost frame any part names."""
    for frame in reversed(stack):
        for name, marks in PARTS:
            if any(mark in frame for mark in marks):
                return name
    return "other"


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes together, from /proc/PID/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _server_pids(process: subprocess.Popen) -> list[int]:
    """The server's processes: Daphne itself, or portal.serve's Daphnes."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    return [int(pid) for pid in children] or [process.pid]


def profile(tree: Path, env: dict, py_spy: str, bodies: list, names: dict, clients: int, seconds: float) -> dict:
    process, port = latency.start_daphne(tree, env)
    try:
        key = latency.api_key(tree, env)
        latency.hammer(port, key, bodies, names, clients, 3)  # warm
        pids = _server_pids(process)
        with tempfile.TemporaryDirectory() as folder:
            spies = []
            for pid in pids:
                out = Path(folder) / f"{pid}.txt"
                spies.append((out, subprocess.Popen(
                    [py_spy, "record", "--pid", str(pid), "--rate", "250", "--gil", "--nonblocking",
                     "--format", "raw", "--output", str(out), "--duration", str(int(seconds) + 2)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )))  # fmt: skip
            time.sleep(1)
            cpu_before = cpu_s(pids)
            load = latency.hammer(port, key, bodies, names, clients, seconds)
            cpu = cpu_s(pids) - cpu_before
            samples: Counter[str] = Counter()
            for out, spy in spies:
                spy.wait()
                for line in out.read_text().splitlines():
                    stack, _, count = line.rpartition(" ")
                    samples[part_of(stack.split(";"))] += int(count)
    finally:
        process.terminate()
        process.wait(timeout=30)
    total = sum(samples.values())
    cpu_ms = cpu * 1000 / load["requests"]
    return {
        "requests": load["requests"],
        "per_second": load["per_second"],
        "p50_ms": load["p50_ms"],
        "processes": len(pids),
        "cpu_ms_per_request": round(cpu_ms, 1),
        "samples": total,
        "parts_ms": {name: round(cpu_ms * count / total, 2) for name, count in samples.most_common()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--py-spy", required=True, help="the py-spy program")
    parser.add_argument("--database", default="earshot_bench")
    parser.add_argument("--before", default="8c364aa", help="the code before (default 8c364aa)")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    env = latency.environment(args.database, 11)
    latency.ensure_catalog(env)
    names = latency.track_names(env)
    clips, _ = latency.make_clips(40, 0)
    bodies = latency.api_clips(clips)
    trees = {"before": latency.before_tree(args.before), "after": ROOT}
    versions = {}
    for version, tree in trees.items():
        versions[version] = profile(tree, env, args.py_spy, bodies, names, args.clients, args.seconds)
        print("api_profile:", version, json.dumps(versions[version]), flush=True)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "before": latency._short(args.before),
        "after": latency._short("HEAD"),
        "clients": args.clients,
        "seconds": args.seconds,
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
        "versions": versions,
    }
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
