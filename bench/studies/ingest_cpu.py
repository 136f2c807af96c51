"""Where `manage.py ingest`'s wall time and CPU go, by process, at --jobs 1 and 2: the floor under it.

    .venv/bin/python -m bench.studies.ingest_cpu [--before COMMIT] [--rounds 2] [--jobs 1,2] [--files 0]
                                                 [--output ingest_cpu.json]

Each round decodes the benchmark corpus's indexed files with ffmpeg alone (sandboxed, one call
after the other, as bench/latency.py's ingest part does; its wall clock without the Python start),
then runs `manage.py ingest --no-store-audio --jobs N` of the same files into a fresh database (a
copy of an empty template migrated by that version's code) for each N and each version: the code
before (`--before`, unpacked as bench/latency.py unpacks it) and this checkout, in turn.

While a command runs, a sampler reads /proc every 0.1 s: the CPU of its Python processes (the
command and its workers, long-lived, so their last sample is theirs) and of the PostgreSQL backends
serving the database. The command's whole tree (Python, ffmpeg and its sandbox) is exact, from a
cgroup-v1 cpuacct group it runs in (getrusage(RUSAGE_CHILDREN) misses what runs under bubblewrap's
pid namespace); ffmpeg and its sandbox is that total less the Python processes. Run as root (the
group is made under /sys/fs/cgroup/cpuacct). Printed, and written to bench/results (`--output`)
when every file was ingested: the medians by the wall clock and CPU seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import OUT, RESULTS, ROOT, corpus, latency

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds of the process itself) from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


class Sampler(threading.Thread):
    """The last CPU seen of `root` and its Python children (the workers), every 0.1 s, and of every
    backend of `database` (looked for once a second): light, as it shares the cores it measures."""

    def __init__(self, root: int, database: str):
        super().__init__(daemon=True)
        self.root, self.database = root, database
        self.python: dict[int, float] = {}
        self.postgres: dict[int, float] = {}
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        tick = 0
        while not self.stop.is_set():
            if tick % 10 == 0:
                self.find_backends()
            self.sample()
            tick += 1
            time.sleep(0.1)
        self.sample()

    def sample(self) -> None:
        children = []
        for task in Path(f"/proc/{self.root}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                children += [int(pid) for pid in task.read_text().split()]
        for pid in [self.root, *children]:
            seen = _stat(pid)
            if seen is not None and seen[0].startswith("python"):
                self.python[pid] = seen[2]
        for pid in self.postgres:
            if (seen := _stat(pid)) is not None:
                self.postgres[pid] = seen[2]

    def find_backends(self) -> None:
        if not self.database:
            return
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in self.postgres:
                continue
            with contextlib.suppress(OSError):
                command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                if command.startswith("postgres: ") and f" {self.database} " in command.replace("\0", " "):
                    self.postgres[int(entry)] = 0.0


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


CGROUPS = Path("/sys/fs/cgroup/cpuacct")
# ffmpeg alone, as bench/latency.py's ingest part times it.
FFMPEG_ALONE = """
import sys
from recognition.engine import audio
import time
started = time.perf_counter()
for path in sys.argv[1:]:
    audio.decode(path, sample_rate_hz=8000, max_seconds=7200)
print(time.perf_counter() - started, file=sys.stderr)
"""


def run_measured(argv: list[str], *, cwd: Path, env: dict, database: str) -> dict:
    """Run `argv` in a cpuacct group of its own: wall, and CPU by process class."""
    group = CGROUPS / f"earshot_ingest_cpu_{os.getpid()}"
    group.mkdir()
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())),  # noqa: PLW1509
        )  # fmt: skip
        sampler = Sampler(process.pid, database)
        _, stderr = process.communicate()
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
        if process.returncode:
            raise SystemExit(stderr.decode())
        tree_cpu = int((group / "cpuacct.usage").read_text()) / 1e9
    finally:
        group.rmdir()
    python = sum(sampler.python.values())
    lines = stderr.decode().strip().splitlines()
    return {
        "wall_s": wall,
        "python_s": python,
        "ffmpeg_s": tree_cpu - python,
        "postgres_s": sum(sampler.postgres.values()),
        "summary": lines[-1] if lines else "",
    }


def run_ingest(tree: Path, env: dict, files: list[str], jobs: int, database: str) -> dict:
    """One `manage.py ingest --jobs N` of `files`."""
    argv = [sys.executable, "manage.py", "ingest", "--owner", "bench", "--no-store-audio", "--jobs", str(jobs)]
    return run_measured([*argv, *files], cwd=tree, env={**env, "PYTHONPATH": str(tree)}, database=database)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="", help="the code before the change (default: this checkout only)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--files", type=int, default=0, help="indexed corpus files (0: all)")
    parser.add_argument("--output", default="ingest_cpu.json", help="results file in bench/results")
    args = parser.parse_args()
    trees = {"before": latency.before_tree(args.before)} if args.before else {}
    trees["after"] = ROOT
    items = corpus.load_or_build(OUT / "corpus.json")["indexed"][: args.files or None]
    files = [item["path"] for item in items]
    audio_s = sum(item["duration_s"] for item in items)
    server = "postgres://postgres@127.0.0.1:5432"
    templates = {version: f"earshot_ingestcpu_template_{version}" for version in trees}
    scratch = "earshot_ingestcpu_scratch"
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_LOG_LEVEL": "WARNING"}
    create = "from accounts.models import Role; from accounts.services import user_create; "
    create += "user_create(username='bench', password=None, role=Role.RIGHTS_HOLDER)"
    for version, tree in trees.items():
        template_env = {**env, "DATABASE_URL": f"{server}/{templates[version]}", "PYTHONPATH": str(tree)}
        _psql(f"DROP DATABASE IF EXISTS {templates[version]}")
        subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=template_env, check=True)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=tree, env=template_env, check=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=tree, env=template_env, check=True)
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {}
    try:
        for number in range(args.rounds):
            alone_env = {**env, "PYTHONPATH": str(ROOT)}
            alone = run_measured([sys.executable, "-c", FFMPEG_ALONE, *files], cwd=ROOT, env=alone_env, database="")
            alone["wall_s"] = float(alone.pop("summary"))
            runs.setdefault("ffmpeg alone", []).append(alone)
            print(f"round {number + 1} ffmpeg alone:", json.dumps(alone), flush=True)
            for version in list(trees) if number % 2 == 0 else list(reversed(trees)):
                for jobs in map(int, args.jobs.split(",")):
                    _psql(f"DROP DATABASE IF EXISTS {scratch}")
                    _psql(f"CREATE DATABASE {scratch} TEMPLATE {templates[version]}")
                    found = run_ingest(
                        trees[version], {**env, "DATABASE_URL": f"{server}/{scratch}"}, files, jobs, scratch
                    )
                    runs.setdefault(f"{version}, --jobs {jobs}", []).append(found)
                    print(f"round {number + 1} {version} --jobs {jobs}:", json.dumps(found), flush=True)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {scratch}")
        for template in templates.values():
            _psql(f"DROP DATABASE IF EXISTS {template}")
    keys = ("wall_s", "python_s", "ffmpeg_s", "postgres_s")
    medians = {
        name: {key: round(statistics.median(run[key] for run in found), 2) for key in keys}
        for name, found in runs.items()
    }
    print(f"{len(files)} files, {audio_s / 3600:.2f} h of audio; median of {args.rounds} rounds")
    print(f"{'':18} {'wall s':>7} {'python':>7} {'ffmpeg':>7} {'postgres':>8} {'CPU s':>7} {'CPU/2 cores':>11}")
    for name, median in medians.items():
        median["cpu_s"] = round(median["python_s"] + median["ffmpeg_s"] + median["postgres_s"], 2)
        print(
            f"{name:18} {median['wall_s']:7.2f} {median['python_s']:7.2f} {median['ffmpeg_s']:7.2f} "
            f"{median['postgres_s']:8.2f} {median['cpu_s']:7.2f} {median['cpu_s'] / 2:11.2f}"
        )
    if args.files:
        return
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "before": latency._short(args.before) if args.before else None,
        "after": latency._short("HEAD"),
        "files": len(files),
        "audio_s": round(audio_s, 1),
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "medians": medians,
    }
    (RESULTS / args.output).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
