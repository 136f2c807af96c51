"""Time from a file to its answer, the code before the single decode beside the code now (issue 39).

    .venv/bin/python -m bench.latency [--database earshot_bench] [--before COMMIT] [--rounds 3]
                                      [--clips 250] [--per-format 40] [--api-seconds 20]
                                      [--api-rounds 1] [--parts wav,formats,batch,api,ingest]
                                      [--output latency.json]

Both versions run in the same run, round by round, on the same files and the same catalog, so
their ratio holds on a noisy shared machine: "before" is `--before` (main before issue 39's
change) unpacked with `git archive` into the temporary folder, "after" is this checkout. Measured:

- `recognize --json`, in one process per round and version (Django set up once, as a long-running
  caller would): `elapsed_ms` per file, from the path to the answer, p50 and p95, over `--clips` 5 s
  WAV clips (44.1 kHz mono 16-bit, like bench/queries.py's) cut from the benchmark corpus at
  seeded offsets, and over `--per-format` of them made MP3, Ogg/Opus, AAC in MP4 and WebM/Opus
  with ffmpeg; the engine alone on the same clips, already decoded, for scale;
- `manage.py recognize --json` over all the WAV clips in one process: wall clock per file, process
  start amortized;
- the partner API (`POST /api/v1/recognitions`) on each version's own server, started as that
  version deploys it (`python -m portal.serve` where it exists, else one Daphne), at 1 and 8
  clients posting 5 s WAV clips back to back (8 kHz mono 16-bit, as bench/live.py's api-load sends);
- ingest (`manage.py ingest --jobs 1` and `--jobs 2` into a fresh empty database) beside ffmpeg
  alone decoding the same files, `--ingest-rounds` times (0: not measured);
- the machine: its ffmpeg's start (`ffmpeg -version`) and a 5 s clip's decode, both sandboxed,
  and the load average before and after (the machine is shared).

The catalog is the one in `--database` (default earshot_bench, which `make bench` fills); when it
holds no track, the benchmark corpus's indexed files are ingested into it first
(`manage.py ingest --owner bench --no-store-audio --jobs 2`). Redis is EARSHOT_BENCH_REDIS (default
redis://127.0.0.1:6379/11). Results go to bench/results/latency.json (`--output`).

`--parts` runs some of the parts only (then `--output` names another file: the report's latency
block reads every part): e.g. `--before main --parts formats,api --output latency_followup.json`
sets a later change beside the code before it (issue 39's follow-up: pre-started decoders and the
API at 8 clients). `--api-rounds` repeats the API part, versions in turn, and keeps the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import OUT, RESULTS, ROOT, corpus, queries

OUTPUT = RESULTS / "latency.json"
PARTS = ("wav", "formats", "batch", "api", "ingest")
WORK = OUT / "latency"
# main before issue 39's change: two ffmpeg calls per file (probe, then decode), no WAV reader.
BEFORE = "af11def"
CLIP_S = 5.0
FORMATS = {  # suffix: ffmpeg's encoding arguments (what phones, browsers and programs send)
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "webm": ["-c:a", "libopus", "-b:a", "64k", "-f", "webm"],
}
GOALS = {
    "wav_p50_ms": 40,
    "wav_p95_ms": 80,
    "batch_ms_per_file": 60,
    "formats_p50_ms": 60,
    "api_1_p50_ms": 60,
    "api_8_per_second": 30,
    "api_8_p95_ms": 300,
}

# Run in each version's checkout (`python -c`, cwd and PYTHONPATH the checkout): what `manage.py
# recognize --json` does for each file, timed, then the engine alone on the same clips.
WORKER = r"""
import io, json, os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
files = json.loads(open(sys.argv[1]).read())
engine = sys.argv[2] == "engine"

def recognize(path):
    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("recognize", "--json", path, stdout=out, stderr=io.StringIO())
    except CommandError:
        pass
    wall_ms = (time.perf_counter() - started) * 1000
    record = json.loads(out.getvalue().strip().splitlines()[-1])
    match = record.get("match") or {}
    return {"elapsed_ms": record.get("elapsed_ms"), "wall_ms": wall_ms, "track_id": match.get("track_id"),
            "offset_s": match.get("offset_s"), "error": (record.get("error") or {}).get("code")}

for path in files[:5]:
    recognize(path)  # warm: the engine, the database connection and its caches
from recognition.engine import audio as _audio
pool = getattr(_audio, "PRESTARTED", None)  # pre-started decoders (absent from older versions)
taken = pool.taken if pool else 0
results = [recognize(path) for path in files]
prestarted = (pool.taken - taken) if pool else 0
engine_ms = []
if engine:
    from recognition.engine import audio
    from recognition.engine.fingerprint import QUERY
    from recognition.services.recognize import recognize_clip
    for path in files:
        samples = audio.decode(path, sample_rate_hz=QUERY.sample_rate_hz, max_seconds=31)
        started = time.perf_counter()
        recognize_clip(samples)
        engine_ms.append((time.perf_counter() - started) * 1000)
print(json.dumps({"results": results, "engine_ms": engine_ms, "prestarted": prestarted}))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _short(commit: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", commit], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def before_tree(commit: str) -> Path:
    """The checkout of `commit`, unpacked once (git archive) in the system's temporary folder:
    outside this repository, whose tests and linters walk bench/."""
    tree = Path(tempfile.gettempdir()) / f"earshot-latency-before-{_short(commit)}"
    if not (tree / "manage.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def environment(database: str, redis_db: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": os.environ.get("EARSHOT_BENCH_REDIS", f"redis://127.0.0.1:6379/{redis_db}"),
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_MEDIA_ROOT": str(WORK / "media"),
    }


def ensure_catalog(env: dict[str, str]) -> int:
    """The number of tracks in the catalog, after ingesting the corpus when it holds none."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)

    def count() -> int:
        code = "from catalog.models import Track; print(Track.objects.count())"
        done = subprocess.run(
            [*manage, "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        )
        return int(done.stdout.strip().splitlines()[-1])

    if count() == 0:
        create = "from accounts.models import Role, User; from accounts.services import user_create; "
        create += "User.objects.filter(username='bench').exists() or "
        create += "user_create(username='bench', password=None, role=Role.RIGHTS_HOLDER)"
        subprocess.run([*manage, "shell", "-c", create], cwd=ROOT, env=env, check=True, capture_output=True)
        files = [item["path"] for item in corpus.load_or_build(OUT / "corpus.json")["indexed"]]
        print(f"latency: ingesting {len(files)} corpus files into an empty catalog", flush=True)
        subprocess.run(
            [*manage, "ingest", "--owner", "bench", "--no-store-audio", "--jobs", "2", *files],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
    return count()


def make_clips(count: int, per_format: int) -> tuple[list[dict], dict[str, list[str]]]:
    """(WAV clips with their truth, {format: files}): seeded 5 s excerpts of indexed corpus files."""
    folder = WORK / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    indexed = corpus.load_or_build(OUT / "corpus.json")["indexed"]
    rng = np.random.default_rng(39)
    clips = []
    for number in range(count):
        item = indexed[int(rng.integers(len(indexed)))]
        start_s = round(float(rng.uniform(0, item["duration_s"] - CLIP_S - 1)), 3)
        path = folder / f"clip{number:03d}.wav"
        if not path.exists():
            queries.write_wav(path, queries.decode_excerpt(item["path"], start_s, CLIP_S))
        clips.append({"path": str(path), "source": item["path"], "start_s": start_s})
    formats: dict[str, list[str]] = {"wav": [c["path"] for c in clips]}
    for suffix, arguments in FORMATS.items():
        formats[suffix] = []
        for clip in clips[:per_format]:
            target = Path(clip["path"]).with_suffix(f".{suffix}")
            if not target.exists():
                subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", clip["path"], *arguments, str(target)],
                    check=True,
                )
            formats[suffix].append(str(target))
    return clips, formats


def run_worker(tree: Path, env: dict[str, str], files: list[str], *, engine: bool) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(files, handle)
    try:
        done = subprocess.run(
            [sys.executable, "-c", WORKER, handle.name, "engine" if engine else "files"],
            cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    return json.loads(done.stdout.strip().splitlines()[-1])


def batch_ms_per_file(tree: Path, env: dict[str, str], files: list[str]) -> float:
    """`manage.py recognize --json` over every file in one process, by the wall clock, per file."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "recognize", "--json", *files],
        cwd=tree, env={**env, "PYTHONPATH": str(tree)}, capture_output=True, check=False,
    )  # fmt: skip
    return (time.perf_counter() - started) * 1000 / len(files)


def _right(record: dict, clip: dict, names: dict[int, str]) -> bool:
    return names.get(record["track_id"]) == clip["source"] and abs((record["offset_s"] or 0) - clip["start_s"]) < 1


def summarize(runs: list[dict], clips: list[dict], names: dict[int, str]) -> dict:
    """p50/p95 of each round, their medians over the rounds, and how many answers were right."""
    p50s = [statistics.median([r["elapsed_ms"] for r in run["results"] if r["elapsed_ms"]]) for run in runs]
    p95s = [percentile([r["elapsed_ms"] for r in run["results"] if r["elapsed_ms"]], 95) for run in runs]
    walls = [statistics.median([r["wall_ms"] for r in run["results"]]) for run in runs]
    last = runs[-1]["results"]
    return {
        "files": len(last),
        "p50_ms": round(statistics.median(p50s), 1),
        "p95_ms": round(statistics.median(p95s), 1),
        "p50_ms_rounds": [round(v, 1) for v in p50s],
        "wall_p50_ms": round(statistics.median(walls), 1),
        "right": sum(_right(r, clip, names) for r, clip in zip(last, clips, strict=False)),
        "errors": sum(bool(r["error"]) for r in last),
        "prestarted": runs[-1].get("prestarted", 0),  # files of the last round decoded by a pre-started child
    }


def track_names(env: dict[str, str]) -> dict[int, str]:
    """Catalog track id -> the corpus file it was ingested from (by SHA-256)."""
    import psycopg2

    path_of = {item["sha256"]: item["path"] for item in corpus.load_or_build(OUT / "corpus.json")["indexed"]}
    with psycopg2.connect(env["DATABASE_URL"]) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, sha256 FROM catalog_track")
        return {track_id: path_of.get(digest, "") for track_id, digest in cursor.fetchall()}


def start_daphne(tree: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """A version's server as that version deploys it: `python -m portal.serve` (a Daphne process
    per CPU on one socket) where the version has it, else one Daphne."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server_env = {
        **env,
        "PYTHONPATH": str(tree),
        "EARSHOT_API_RATE_PER_MINUTE": "1000000",
        "EARSHOT_API_BURST": "1000000",
    }
    if (tree / "portal" / "serve.py").exists():
        command = [sys.executable, "-m", "portal.serve", "--bind", "127.0.0.1", "--port", str(port)]
    else:
        command = [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port),
                   "portal.asgi:application"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tree, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("daphne did not start")


def api_key(tree: Path, env: dict[str, str]) -> str:
    """A new partner's key for `tree`'s server (a user of its own each run: a user holds a bounded
    number of keys), made by this checkout's code, which the database's schema is: older code
    cannot write a key to it (keys have had scopes since), and reads and checks one as it did."""
    username = f"bench-latency-{tree.name}-{os.getpid()}"
    done = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", username, "--name", "latency"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def api_clips(clips: list[dict]) -> list[tuple[dict, bytes]]:
    """The clips as the API's load test sends them: 8 kHz mono 16-bit WAV bytes."""
    import io
    import wave

    from scipy import signal

    bodies = []
    for clip in clips[:40]:
        with wave.open(clip["path"], "rb") as handle:
            pcm = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32768
        samples = signal.resample_poly(pcm, 80, 441)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(8000)
            handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
        bodies.append((clip, buffer.getvalue()))
    return bodies


def hammer(port: int, key: str, bodies: list, names: dict, clients: int, seconds: float) -> dict:
    """`clients` partners posting clips back to back for `seconds` (bench/live.py's load, its
    figures in ms): rate, latency, errors."""
    from bench.live import _hammer

    load = _hammer(port, key, [(clip["source"], body) for clip, body in bodies], names, clients, seconds)
    ms = {name: None if load[name] is None else round(load[name] * 1000, 1) for name in ("p50_s", "p95_s")}
    return {
        **{name: load[name] for name in ("requests", "errors", "statuses", "per_second")},
        "right": load["right_matches"],
        "p50_ms": ms["p50_s"],
        "p95_ms": ms["p95_s"],
    }


def api_summary(runs: list[dict]) -> dict:
    """One client count and version over `--api-rounds` rounds: the medians, and every round's rate."""
    statuses: dict[str, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count

    def median(name: str) -> float | None:
        values = [run[name] for run in runs if run[name] is not None]
        return round(statistics.median(values), 1) if values else None

    return {
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "statuses": statuses,
        "per_second": round(statistics.median(run["per_second"] for run in runs), 2),
        "right": sum(run["right"] for run in runs),
        "p50_ms": median("p50_ms"),
        "p95_ms": median("p95_ms"),
        "rounds": len(runs),
        "per_second_rounds": [run["per_second"] for run in runs],
    }


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


def ingest_speed(trees: dict[str, Path], env: dict[str, str], files: list[str], rounds: int) -> dict:
    """`manage.py ingest --jobs 1` and `--jobs 2` of `files` by the wall clock, each version into a
    fresh copy of an empty database migrated by that version's code (older code cannot write a
    track to a newer schema), beside ffmpeg alone decoding the same files to the engine rate
    (sandboxed, one call after the other, as run.py measures its floor)."""
    from recognition.engine import audio

    server, database = env["DATABASE_URL"].rsplit("/", 1)
    templates = {version: f"{database}_ingest_template_{version}" for version in trees}
    scratch = f"{database}_ingest_scratch"
    create = "from accounts.models import Role; from accounts.services import user_create; "
    create += "user_create(username='bench', password=None, role=Role.RIGHTS_HOLDER)"
    for version, template in templates.items():
        tree, template_env = trees[version], {**env, "DATABASE_URL": f"{server}/{template}"}
        _psql(f"DROP DATABASE IF EXISTS {template}")
        subprocess.run([sys.executable, "scripts/ensure_database.py"], cwd=ROOT, env=template_env, check=True)
        tree_env = {**template_env, "PYTHONPATH": str(tree)}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=tree, env=tree_env, check=True)
        subprocess.run([sys.executable, "manage.py", "shell", "-c", create], cwd=tree, env=tree_env, check=True)
    scratch_env = {**env, "DATABASE_URL": f"{server}/{scratch}"}
    times: dict[str, list[float]] = {"ffmpeg alone": []}
    try:
        for number in range(rounds):
            started = time.perf_counter()
            for path in files:
                audio.decode(path, sample_rate_hz=8000, max_seconds=7200)
            times["ffmpeg alone"].append(time.perf_counter() - started)
            for version in list(trees) if number % 2 == 0 else list(reversed(trees)):
                for jobs in (1, 2):
                    _psql(f"DROP DATABASE IF EXISTS {scratch}")
                    _psql(f"CREATE DATABASE {scratch} TEMPLATE {templates[version]}")
                    started = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "manage.py", "ingest", "--owner", "bench", "--no-store-audio",
                         "--jobs", str(jobs), *files],
                        cwd=trees[version], env={**scratch_env, "PYTHONPATH": str(trees[version])},
                        check=True, capture_output=True,
                    )  # fmt: skip
                    times.setdefault(f"{version}, --jobs {jobs}", []).append(time.perf_counter() - started)
            print("latency: ingest round", number + 1, {k: round(v[-1], 1) for k, v in times.items()}, flush=True)
    finally:
        _psql(f"DROP DATABASE IF EXISTS {scratch}")
        for template in templates.values():
            _psql(f"DROP DATABASE IF EXISTS {template}")
    audio_s = sum(corpus_durations().get(path, 0.0) for path in files)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "files": len(files),
        "audio_s": round(audio_s, 1),
        "rounds": rounds,
        "wall_s": {name: round(value, 2) for name, value in medians.items()},
        "x_realtime": {name: round(audio_s / value, 1) for name, value in medians.items()},
    }


def corpus_durations() -> dict[str, float]:
    return {item["path"]: item["duration_s"] for item in corpus.load_or_build(OUT / "corpus.json")["indexed"]}


def machine() -> dict:
    """This machine's ffmpeg: its start and a 5 s clip's decode, sandboxed as the portal runs them."""
    from recognition.engine import audio

    clip = next((WORK / "clips").glob("*.wav"))
    calls = {
        "ffmpeg start (-version)": audio.sandboxed(["ffmpeg", "-version"], audio.DecodeLimits()),
        "ffmpeg decode of a 5 s WAV clip to 8 kHz": audio.sandboxed(
            audio.ffmpeg_command(clip, sample_rate_hz=8000, max_seconds=31), audio.DecodeLimits(), input_path=clip
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(20):
        for name, command in calls.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times[name].append((time.perf_counter() - started) * 1000)
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout.split()[2]
    return {
        "ffmpeg": version,
        "median_ms": {name: round(statistics.median(values), 1) for name, values in times.items()},
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="earshot_bench")
    parser.add_argument("--before", default=BEFORE, help=f"the code before the change (default {BEFORE})")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clips", type=int, default=250)
    parser.add_argument("--per-format", type=int, default=40)
    parser.add_argument("--api-seconds", type=float, default=20)
    parser.add_argument("--ingest-files", type=int, default=0, help="indexed corpus files to ingest (0: all)")
    parser.add_argument("--ingest-rounds", type=int, default=1, help="rounds of the ingest part (0: none)")
    parser.add_argument("--api-rounds", type=int, default=1, help="rounds of the API part, versions in turn")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {','.join(PARTS)} (default all)")
    parser.add_argument("--output", default=OUTPUT.name, help=f"results file in bench/results (default {OUTPUT.name})")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(parts - set(PARTS)))}")
    if parts != set(PARTS) and args.output == OUTPUT.name:
        parser.error(f"--parts without every part writes another file than {OUTPUT.name}: give --output")
    load_before = os.getloadavg()
    env = environment(args.database, 11)
    tracks = ensure_catalog(env)
    names = track_names(env)
    clips, formats = make_clips(args.clips, args.per_format)
    trees = {"before": before_tree(args.before), "after": ROOT}
    info = machine()
    print("latency:", info, flush=True)

    measured = {name: files for name, files in formats.items() if ("wav" if name == "wav" else "formats") in parts}
    cli: dict[str, dict[str, list[dict]]] = {name: {version: [] for version in trees} for name in measured}
    batch: dict[str, list[float]] = {version: [] for version in trees}
    for number in range(args.rounds if measured or "batch" in parts else 0):
        order = list(trees) if number % 2 == 0 else list(reversed(trees))
        for name, files in measured.items():
            for version in order:
                cli[name][version].append(run_worker(trees[version], env, files, engine=name == "wav"))
        for version in order if "batch" in parts else []:
            batch[version].append(batch_ms_per_file(trees[version], env, formats["wav"]))
        print(f"latency: round {number + 1} of {args.rounds} done", flush=True)

    api: dict[str, dict] = {}
    if "api" in parts:
        servers = {version: start_daphne(tree, env) for version, tree in trees.items()}
        try:
            bodies = api_clips(clips)
            keys = {version: api_key(tree, env) for version, tree in trees.items()}
            for version, (_, port) in servers.items():
                hammer(port, keys[version], bodies, names, 1, 3)  # warm
            runs: dict[str, dict[str, list[dict]]] = {"1": {}, "8": {}}
            for number in range(args.api_rounds):
                order = list(servers) if number % 2 == 0 else list(reversed(servers))
                for clients in (1, 8):
                    for version in order:
                        found = hammer(servers[version][1], keys[version], bodies, names, clients, args.api_seconds)
                        runs[str(clients)].setdefault(version, []).append(found)
                        print("latency: api", clients, version, found, flush=True)
            api = {clients: {v: api_summary(by[v]) for v in trees} for clients, by in runs.items()}
        finally:
            for process, _ in servers.values():
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    ingest = None
    if args.ingest_rounds and "ingest" in parts:
        files = [item["path"] for item in corpus.load_or_build(OUT / "corpus.json")["indexed"]]
        ingest = ingest_speed(trees, env, files[: args.ingest_files or None], args.ingest_rounds)
        print("latency: ingest", ingest, flush=True)

    result = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "before": _short(args.before),
        "after": _short("HEAD"),
        "parts": [part for part in PARTS if part in parts],
        "servers": {
            version: "python -m portal.serve" if (tree / "portal" / "serve.py").exists() else "daphne"
            for version, tree in trees.items()
        },
        "database": args.database,
        "catalog_tracks": tracks,
        "rounds": args.rounds,
        "api_rounds": args.api_rounds,
        "clip_s": CLIP_S,
        "load_average": {"before": [round(v, 2) for v in load_before], "after": [round(v, 2) for v in os.getloadavg()]},
        "machine": info,
        "recognize": {
            name: {version: summarize(runs, clips, names) for version, runs in by.items()} for name, by in cli.items()
        },
        "engine_p50_ms": {
            version: round(statistics.median(statistics.median(run["engine_ms"]) for run in runs), 1)
            for version, runs in cli.get("wav", {}).items()
        },
        "batch_ms_per_file": {
            version: round(statistics.median(values), 1) for version, values in batch.items() if values
        },
        "batch_files": len(formats["wav"]),
        "api": api,
        "ingest": ingest,
        "goals": GOALS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("recognize", "engine_p50_ms", "batch_ms_per_file", "api")}, indent=1))
    shutil.rmtree(WORK / "media", ignore_errors=True)


if __name__ == "__main__":
    main()
