"""Where `manage.py ingest`'s wall time and CPU go, by process, at --jobs 1 and 2: the floor under it.

    .venv/bin/python -m bench.studies.ingest_cpu [--rounds 2] [--jobs 1,2] [--files 0] [--tree PATH]

Each round decodes the benchmark corpus's indexed files with ffmpeg alone (sandboxed, one call
after the other, as bench/latency.py's ingest part does), then runs `manage.py ingest
--no-store-audio --jobs N` of the same files into a fresh database (a copy of an empty, migrated
template) for each N. While a command runs, a sampler reads /proc every 20 ms: the CPU of its
Python processes (the command and its workers, long-lived, so their last sample is theirs) and of
the PostgreSQL backends serving the database. The command's whole tree (Python, ffmpeg and its
sandbox) is exact, from a cgroup-v1 cpuacct group it runs in (getrusage(RUSAGE_CHILDREN) misses
what runs under bubblewrap's pid namespace); ffmpeg and its sandbox is that total less the Python
processes. Run as root (the group is made under /sys/fs/cgroup/cpuacct). Printed: medians by the
wall clock and CPU seconds, and what 2 cores allow.
`--tree` runs another checkout's code (e.g. the code before a change, unpacked by bench/latency.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import OUT, ROOT, corpus

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
    """The last CPU seen of every Python process under `root` and every backend of `database`."""

    def __init__(self, root: int, database: str):
        super().__init__(daemon=True)
        self.root, self.database = root, database
        self.python: dict[int, float] = {}
        self.postgres: dict[int, float] = {}
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.02)
        self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        found: dict[int, tuple[str, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (seen := _stat(int(entry))) is not None:
                parents[int(entry)] = seen[1]
                found[int(entry)] = (seen[0], seen[2])
        for pid, (name, cpu) in found.items():
            if name.startswith("python"):
                ancestor = pid
                while ancestor not in (0, 1, self.root) and ancestor in parents:
                    ancestor = parents[ancestor]
                if ancestor == self.root:
                    self.python[pid] = cpu
            elif name == "postgres" or name.startswith("postgres"):
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if f" {self.database} " in command.replace("\0", " "):
                    self.postgres[pid] = cpu


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


CGROUPS = Path("/sys/fs/cgroup/cpuacct")
# ffmpeg alone, as bench/latency.py's ingest part times it.
FFMPEG_ALONE = """
import sys
from recognition.engine import audio
for path in sys.argv[1:]:
    audio.decode(path, sample_rate_hz=8000, max_seconds=7200)
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
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", default="1,2")
    parser.add_argument("--files", type=int, default=0, help="indexed corpus files (0: all)")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose code runs (default this one)")
    args = parser.parse_args()
    tree = Path(args.tree)
    items = corpus.load_or_build(OUT / "corpus.json")["indexed"][: args.files or None]
    files = [item["path"] for item in items]
    audio_s = sum(item["duration_s"] for item in items)
    server = "postgres://postgres@127.0.0.1:5432"
    template, scratch = "earshot_ingestcpu_template", "earshot_ingestcpu_scratch"
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_LOG_LEVEL": "WARNING"}
    template_env = {**env, "DATABASE_URL": f"{server}/{template}", "PYTHONPATH": str(tree)}
    _psql(f"DROP DATABASE IF EXISTS {template}")
    subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=template_env, check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=tree, env=template_env, check=True)
    create = "from accounts.models import Role; from accounts.services import user_create; "
    create += "user_create(username='bench', password=None, role=Role.RIGHTS_HOLDER)"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=tree, env=template_env, check=True)
    runs: dict[str, list[dict]] = {}
    try:
        for number in range(args.rounds):
            alone_env = {**env, "PYTHONPATH": str(ROOT)}
            alone = run_measured([sys.executable, "-c", FFMPEG_ALONE, *files], cwd=ROOT, env=alone_env, database="")
            runs.setdefault("ffmpeg alone", []).append(alone)
            print(f"round {number + 1} ffmpeg alone:", json.dumps(alone), flush=True)
            for jobs in map(int, args.jobs.split(",")):
                _psql(f"DROP DATABASE IF EXISTS {scratch}")
                _psql(f"CREATE DATABASE {scratch} TEMPLATE {template}")
                found = run_ingest(tree, {**env, "DATABASE_URL": f"{server}/{scratch}"}, files, jobs, scratch)
                runs.setdefault(f"--jobs {jobs}", []).append(found)
                print(f"round {number + 1} --jobs {jobs}:", json.dumps(found), flush=True)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {scratch}")
        _psql(f"DROP DATABASE IF EXISTS {template}")
    print(f"{len(files)} files, {audio_s / 3600:.2f} h of audio; median of {args.rounds} rounds; code of {tree}")
    print(f"{'':14} {'wall s':>7} {'python':>7} {'ffmpeg':>7} {'postgres':>8} {'CPU s':>7} {'CPU/2 cores':>11}")
    for name, found in runs.items():
        keys = ("wall_s", "python_s", "ffmpeg_s", "postgres_s")
        median = {key: statistics.median(run[key] for run in found) for key in keys}
        total = median["python_s"] + median["ffmpeg_s"] + median["postgres_s"]
        print(
            f"{name:14} {median['wall_s']:7.2f} {median['python_s']:7.2f} {median['ffmpeg_s']:7.2f} "
            f"{median['postgres_s']:8.2f} {total:7.2f} {total / 2:11.2f}"
        )


if __name__ == "__main__":
    main()
