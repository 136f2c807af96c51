"""Earshot benchmark: accuracy, speed and storage on real music, side by side with Dejavu.

    .venv/bin/python -m bench.run [--per-cell 50] [--unknown 100] [--skip-dejavu] [--resume]
    .venv/bin/python -m bench.run --robust --only earshot   # the robustness set alone (issue 38)

Runs in one go, on one database per engine (never the development one):

1. corpus: the Debian soundtracks, deduplicated, ~10 % never indexed (bench/corpus.py);
2. queries: 5 lengths x 13 conditions x N excerpts, plus unknown excerpts (bench/queries.py);
3. Earshot: ingest (one process; x real time by wall clock and per core of CPU), storage, every query;
4. Dejavu: the same files and queries through bench/baseline/dejavu_runner.py in its own venv;
5. report: bench/results/results.json, results.md and the plot (Earshot alone, with --skip-dejavu or
   --only earshot: bench/results/results_earshot.json); `python -m bench.report` quotes them in the docs.

`--robust` runs the robustness set instead (bench/queries.py `build_robust`: speed, pitch, tempo,
voice-over, another song and a reverberant room, on clips of the never-seen package, which it
indexes beside the catalog) into bench/results/results_robust.json; without a database,
`python -m bench.studies.robustness` measures the same clips in memory, arm by arm.

Both engines run one after the other on the same machine, so their ratios are fair even when
the machine is noisy; latencies are medians and 95th percentiles.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import BENCH, OUT, RESULTS, ROOT, corpus, versions
from bench import queries as query_set
from bench.report import accuracy_plot, results_markdown

DEJAVU_PYTHON = ROOT / ".venvs" / "dejavu" / "bin" / "python"
DEJAVU_RUNNER = BENCH / "baseline" / "dejavu_runner.py"
BENCH_DB = "earshot_bench"
DEJAVU_DSN = "postgresql://postgres@127.0.0.1:5432/earshot_dejavu"


def setup_django() -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DJANGO_MEDIA_ROOT", str(OUT / "media"))
    subprocess.run([sys.executable, str(ROOT / "scripts" / "ensure_database.py")], check=True, env=os.environ)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# getrusage(RUSAGE_CHILDREN) misses the CPU of whatever runs in bubblewrap's pid namespace, the
# decode sandbox the engine prefers (a busy child under `bwrap --unshare-pid` adds nothing to it),
# so the benchmark's process joins a cgroup-v1 cpuacct group of its own, whose usage counts every
# descendant, sandboxed or not (bench/studies/ingest_cpu.py runs its commands in such groups too).
CPU_GROUPS = Path("/sys/fs/cgroup/cpuacct")
_cpu_group: list[Path | None] = []


def _leave_cpu_group(group: Path) -> None:
    with contextlib.suppress(OSError):
        (CPU_GROUPS / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()  # refused while a pre-started decoder still runs in it; it goes with the process


def cpu_group() -> Path | None:
    """The cpuacct group this process counts its tree in, joined on first use; None where it cannot
    be made (not root, no cgroup-v1 cpuacct)."""
    if not _cpu_group:
        group = CPU_GROUPS / f"earshot_bench_{os.getpid()}"
        try:
            group.mkdir(exist_ok=True)
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            group = None
        else:
            atexit.register(_leave_cpu_group, group)
        _cpu_group.append(group)
    return _cpu_group[0]


def cpu_seconds(backend_pid: int | None) -> dict[str, float]:
    """CPU used so far by this process, its children (ffprobe, ffmpeg) and its database backend.

    Summed, their differences between two calls are the cost of ingest per core, whatever overlaps
    on the wall clock. "children" is this process's tree less itself, counted since it joined its
    cpuacct group (only differences mean anything); it is left out where sandboxed children cannot
    be counted (no group, and the decode sandbox is bubblewrap).
    """
    from recognition.engine import audio

    own = resource.getrusage(resource.RUSAGE_SELF)
    used = {"python": own.ru_utime + own.ru_stime}
    group = cpu_group()
    if group is not None:
        used["children"] = int((group / "cpuacct.usage").read_text()) / 1e9 - used["python"]
    elif audio.sandbox_mode() != "bwrap":
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        used["children"] = children.ru_utime + children.ru_stime
    try:  # PostgreSQL runs on this machine; its /proc entry is readable when it does
        fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        used["database"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return used


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- Earshot --------------------------------------------------------------------------------------


def run_earshot(manifest: dict, queries: list[query_set.Query]) -> dict:
    setup_django()
    from django.db import connection

    from accounts.models import Role, User
    from accounts.services import user_create
    from catalog.models import Track
    from recognition import store
    from recognition.engine import audio
    from recognition.engine.fingerprint import QUERY
    from recognition.services import identifier, track_ingest

    Track.objects.all().delete()
    owner = User.objects.filter(username="bench").first() or user_create(
        username="bench", password=None, role=Role.RIGHTS_HOLDER
    )
    with connection.cursor() as cursor:
        # Start from empty files. VACUUM FULL, used before, keeps deleted rows that any snapshot
        # open at the time (an autovacuum ANALYZE) may still see; once, that doubled the heap.
        cursor.execute(f"TRUNCATE {store.TABLE}, {store.PAIR_TABLE}, {store.WRITE_TABLE}, {store.SKETCH_TABLE}")

    # Ingest, one process: decode + fingerprint + database write, per file.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    cpu_before = cpu_seconds(backend_pid)
    ingest_s = 0.0
    audio_s = 0.0
    source_of_track: dict[int, str] = {}
    for item in manifest["indexed"]:
        started = time.perf_counter()
        outcome = track_ingest(path=item["path"], owner=owner, store_audio=False)
        ingest_s += time.perf_counter() - started
        if outcome.status != "added":
            raise SystemExit(f"ingest failed for {item['path']}: {outcome.status} {outcome.reason}")
        audio_s += outcome.track.duration_s
        source_of_track[outcome.track.id] = item["path"]
    cpu_after = cpu_seconds(backend_pid)
    # Without the children's CPU a figure per core would flatter ingest: none is given then.
    counted = "children" in cpu_before
    ingest_cpu = {part: cpu_after[part] - cpu_before[part] for part in cpu_after if part in cpu_before}
    # The floor under ingest: ffmpeg alone decoding the same files to the engine's rate.
    decode_s = 0.0
    decode_cpu_before = cpu_seconds(None)
    for item in manifest["indexed"]:
        started = time.perf_counter()
        audio.decode(item["path"], sample_rate_hz=QUERY.sample_rate_hz, max_seconds=7200)
        decode_s += time.perf_counter() - started
    decode_cpu_after = cpu_seconds(None)
    decode_cpu_s = decode_cpu_after["children"] - decode_cpu_before["children"] if counted else None
    with connection.cursor() as cursor:
        for table in (store.TABLE, store.PAIR_TABLE):  # visibility map: index-only lookups
            cursor.execute(f"VACUUM ANALYZE {table}")
    size = store.table_size()

    engine = identifier()
    for warmup in queries[:20]:  # load the index into the buffer cache, as in production
        engine.identify(audio.decode(warmup.path, sample_rate_hz=QUERY.sample_rate_hz, max_seconds=30))
    results = []
    loads = []  # the machine's 1-minute load average while the queries are timed: other work on the cores
    for number, query in enumerate(queries, 1):
        if number % 250 == 0:
            print(f"earshot: {number}/{len(queries)} queries", flush=True)
            loads.append(os.getloadavg()[0])
        started = time.perf_counter()
        samples = audio.decode(query.path, sample_rate_hz=QUERY.sample_rate_hz, max_seconds=30)
        decoded = time.perf_counter()
        match = engine.identify(samples)
        finished = time.perf_counter()
        results.append({
            "id": query.id,
            "name": source_of_track.get(match.track_id) if match else None,
            "offset_s": match.offset_frames / QUERY.frames_per_second if match else None,
            "confidence": match.confidence if match else None,
            "engine_ms": (finished - decoded) * 1000,
            "total_ms": (finished - started) * 1000,
        })  # fmt: skip
    return {
        "ingest": {
            "audio_s": audio_s,
            "elapsed_s": ingest_s,
            "cpu_s": ingest_cpu if counted else None,
            "decode_s": decode_s,
            "decode_cpu_s": decode_cpu_s,
            "tracks": len(source_of_track),
        },
        "storage": size,
        "results": results,
        "load_average": statistics.median(loads) if loads else None,
    }


# --- Dejavu ---------------------------------------------------------------------------------------


def _dejavu(command: str, lines: list[dict]) -> list[dict]:
    payload = "".join(json.dumps(line) + "\n" for line in lines)
    result = subprocess.run(
        [str(DEJAVU_PYTHON), str(DEJAVU_RUNNER), "--dsn", DEJAVU_DSN, command],
        input=payload, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode not in (0, 1):
        raise SystemExit(f"dejavu {command} failed: {result.stderr[-2000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def run_dejavu(manifest: dict, queries: list[query_set.Query]) -> dict:
    subprocess.run([str(BENCH / "baseline" / "setup_dejavu.sh")], check=True)
    _dejavu("reset", [])
    ingested = _dejavu("ingest", [{"path": f["path"], "name": f["path"]} for f in manifest["indexed"]])
    stats = _dejavu("stats", [])[0]
    answers = _dejavu("query", [{"id": q.id, "path": q.path} for q in queries])
    results = [{
        "id": a["id"],
        "name": a.get("name"),
        "offset_s": a.get("offset_s"),
        "confidence": a.get("confidence"),
        "aligned_hashes": (a.get("dejavu") or {}).get("aligned_hashes"),
        "engine_ms": a.get("elapsed_ms"),
        "total_ms": a.get("elapsed_ms"),
    } for a in answers]  # fmt: skip
    return {
        "ingest": {
            "audio_s": sum(i.get("duration_s", 0) for i in ingested),
            "elapsed_s": sum(i.get("elapsed_s", 0) for i in ingested),
            "tracks": len(ingested),
        },
        "storage": {"rows": stats["rows"], "total_bytes": stats["bytes"]},
        "results": results,
    }


# --- scoring --------------------------------------------------------------------------------------


def score(engine: dict, queries: list[query_set.Query]) -> dict:
    """Accuracy per length x condition, offset errors, false matches, latency, speed, storage."""
    by_id = {r["id"]: r for r in engine["results"]}
    cells: dict[str, dict[str, list[bool]]] = {}
    offset_errors: list[float] = []
    unknown = {"held_out": [], "foreign": []}
    latency_engine: dict[str, list[float]] = {}
    latency_total: dict[str, list[float]] = {}
    other_file = {"right": 0, "wrong": 0}  # answers naming another file than the clip's source
    for query in queries:
        result = by_id.get(query.id, {})
        length = f"{query.length_s:g}"
        name = result.get("name")
        same = name is not None and versions.same_recording(
            query.source, query.start_s, name, result.get("offset_s"), query.length_s
        )
        if name is not None and name != query.source:
            other_file["right" if same else "wrong"] += 1
        if query.kind == "known":
            correct = same
            cells.setdefault(query.condition, {}).setdefault(length, []).append(correct)
            # Offsets only in the source file itself: a remaster's timeline may be shifted.
            if (
                name == query.source
                and result.get("offset_s") is not None
                and query_set.source_factor(query.condition) == 1.0
            ):
                offset_errors.append(abs(result["offset_s"] - query.start_s))
            latency_engine.setdefault(length, []).append(result.get("engine_ms") or float("nan"))
            latency_total.setdefault(length, []).append(result.get("total_ms") or float("nan"))
        else:
            unknown[query.kind].append(name is not None and not same)
    accuracy = {
        condition: {length: 100.0 * sum(v) / len(v) for length, v in lengths.items()}
        for condition, lengths in cells.items()
    }
    audio_h = engine["ingest"]["audio_s"] / 3600
    return {
        "accuracy": accuracy,
        "offset_error_s": {"p50": percentile(offset_errors, 50), "p95": percentile(offset_errors, 95)},
        "false_matches": {
            kind: {"matched": sum(v), "queries": len(v), "percent": 100.0 * sum(v) / max(1, len(v))}
            for kind, v in unknown.items()
        },
        "latency_ms": {
            length: {
                "engine_p50": percentile(latency_engine[length], 50),
                "engine_p95": percentile(latency_engine[length], 95),
                "total_p50": percentile(latency_total[length], 50),
                "total_p95": percentile(latency_total[length], 95),
            }
            for length in latency_engine
        },
        "ingest_x_realtime": engine["ingest"]["audio_s"] / max(engine["ingest"]["elapsed_s"], 1e-9),
        "ingest_x_realtime_per_core": (
            engine["ingest"]["audio_s"] / sum(engine["ingest"]["cpu_s"].values())
            if engine["ingest"].get("cpu_s")
            else None
        ),
        "ingest_cpu_s": engine["ingest"].get("cpu_s"),
        "decode_x_realtime": (
            engine["ingest"]["audio_s"] / engine["ingest"]["decode_s"] if engine["ingest"].get("decode_s") else None
        ),
        "decode_x_realtime_per_core": (
            engine["ingest"]["audio_s"] / engine["ingest"]["decode_cpu_s"]
            if engine["ingest"].get("decode_cpu_s")
            else None
        ),
        "hashes_per_audio_s": engine["storage"]["rows"] / max(engine["ingest"]["audio_s"], 1e-9),
        "bytes_per_audio_hour": engine["storage"]["total_bytes"] / max(audio_h, 1e-9),
        "audio_hours": audio_h,
        "answers_naming_another_file": other_file,
    }


def dejavu_with_vote_threshold(dejavu: dict, queries: list[query_set.Query], threshold: int) -> dict:
    """Dejavu answers whenever one hash matches; this variant keeps answers with enough aligned votes."""
    kept = []
    for result in dejavu["results"]:
        aligned = result.get("aligned_hashes") or 0
        kept.append(result if aligned >= threshold else {**result, "name": None})
    return score({**dejavu, "results": kept}, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cell", type=int, default=50, help="queries per length x condition (default 50)")
    parser.add_argument(
        "--unknown",
        type=int,
        default=None,
        help="unknown queries per length and kind (default 100; with --robust, in all: default 1000)",
    )
    parser.add_argument("--skip-dejavu", action="store_true")
    parser.add_argument(
        "--only",
        choices=("earshot", "dejavu"),
        help="run one engine and save its answers (bench/out/raw_<engine>.json), a later --resume run "
        "reuses them beside the other engine's; Earshot alone is scored into results/results_earshot.json",
    )
    parser.add_argument(
        "--resume", action="store_true", help="reuse an engine's saved answers when the query set is the same"
    )
    parser.add_argument(
        "--robust",
        action="store_true",
        help="the robustness set alone (speed, pitch, tempo, voice-over, room): bench/results/results_robust.json",
    )
    args = parser.parse_args()

    if args.unknown is None:
        args.unknown = 1000 if args.robust else 100
    manifest = corpus.load_or_build(OUT / "corpus.json")
    if args.robust:
        queries = query_set.build_robust(manifest, OUT / "queries_robust", args.per_cell, args.unknown)
        manifest = query_set.robust_manifest(manifest)
    else:
        queries = query_set.build(manifest, OUT / "queries", args.per_cell, args.unknown)
    print(
        f"corpus: {len(manifest['indexed'])} indexed, {len(manifest['held_out'])} held out, "
        f"{len(manifest['foreign'])} foreign; {len(queries)} queries",
        flush=True,
    )

    runners = {"earshot": run_earshot}
    if not args.skip_dejavu:
        runners["dejavu"] = run_dejavu
    if args.only:
        runners = {args.only: runners.get(args.only, run_dejavu)}
    raw = {}
    query_ids = sorted(q.id for q in queries)
    for name, runner in runners.items():
        # One engine's answers survive a crash of the other's run.
        saved = OUT / f"raw_{name}{'_robust' if args.robust else ''}.json"
        if args.resume and saved.exists():
            previous = json.loads(saved.read_text())
            if sorted(r["id"] for r in previous["results"]) == query_ids:
                raw[name] = previous
                print(f"{name}: reusing {saved}", flush=True)
                continue
        raw[name] = runner(manifest, queries)
        saved.write_text(json.dumps(raw[name]))
        print(f"{name} done", flush=True)
    if args.only == "dejavu":
        return

    report = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "per_cell": args.per_cell,
        "setup": (
            f"{len(manifest['indexed'])} tracks indexed "
            f"({sum(f['duration_s'] for f in manifest['indexed']) / 3600:.2f} h "
            f"of {', '.join(corpus.CATALOG_PACKAGES)}), {len(manifest['held_out'])} never indexed, "
            f"{len(manifest['foreign'])} tracks of {', '.join(corpus.FOREIGN_PACKAGES)} never seen; "
            f"{len(queries)} queries; {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            "latencies measured one query at a time"
            + (
                f", at a 1-minute load average of {raw['earshot']['load_average']:.1f} (median while they ran)."
                if raw["earshot"].get("load_average") is not None
                else "."
            )
        ),
        "earshot": score(raw["earshot"], queries),
    }
    if "dejavu" in raw:
        report["dejavu"] = score(raw["dejavu"], queries)
        target = report["earshot"]["false_matches"]["held_out"]["percent"]
        for threshold in range(2, 200):
            scored = dejavu_with_vote_threshold(raw["dejavu"], queries, threshold)
            if scored["false_matches"]["held_out"]["percent"] <= target:
                report["dejavu_thresholded"] = {"threshold": threshold, "scored": scored}
                break
    RESULTS.mkdir(exist_ok=True)
    if "dejavu" not in raw or args.robust:
        # Earshot alone (after an engine change): its own file, so results.json keeps both engines of one run.
        alone = "results_robust.json" if args.robust else "results_earshot.json"
        (RESULTS / alone).write_text(json.dumps(report, indent=1))
        print(json.dumps(report["earshot"], indent=1))
        return
    (RESULTS / "raw.json").write_text(json.dumps(raw))
    (RESULTS / "results.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "results.md").write_text(results_markdown(report))
    accuracy_plot(report, RESULTS / "accuracy_vs_snr.png")
    print((RESULTS / "results.md").read_text())


if __name__ == "__main__":
    main()
