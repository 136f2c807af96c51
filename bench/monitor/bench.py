"""`python -m bench.monitor`: detection delay, accuracy, CPU and capacity of monitors on live stations.

Phases, each with its own monitors on stations already on air, real `manage.py monitor_worker`
processes (two: one per core) and a live Daphne whose API a poller reads round robin:

* the accuracy phase (25 streams, 6 min: about 100 catalog plays and 1.3 h of never-indexed
  music) gives delays, start and end errors, misses, false detections and CPU per stream-hour;
* capacity steps of 10, 25, 35, 50, 75, 100 … streams (2.5 min each), up to the goal's 50 and on
  while they hold (p95 delay within 6 s, at most 5 % of plays missed); `--only capacity` alone.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

from bench import OUT, RESULTS, corpus
from bench.monitor import playlists, scoring, shared
from bench.monitor.rig import (
    WORKER_APP,
    CpuMeter,
    Database,
    Portal,
    Stations,
    StationSpec,
    Watch,
    Worker,
    environment,
    manage,
    others,
    processes,
)

GOAL_P95_S = 6.0
MISSED_SHARE_HOLDS = 0.05  # a step still holds with a few plays missed; past it, it does not
PLAN_S = 420.0  # each station's playlist, looped
HLS_STATIONS = 8
ACCURACY_STREAMS = 25
GOALS = {"latency_p50_s": 3.0, "latency_p95_s": 6.0, "error_s": 1.0, "missed": 0, "false_detections": 0,
         "never_indexed_h": 1.0, "streams": 50}  # fmt: skip
CAPACITY_API_RATE = 3.0  # requests a second over all monitors, in the capacity steps
BASELINE_S = 15.0  # pollers alone, before the workers start


class Context:
    """The run's database, catalog, stations and portal, shared by its phases."""

    def __init__(self, db: Database, redis_url: str, worker_env: list[str] | None = None):
        self.db = db
        self.redis_url = redis_url
        self.env = environment(db, redis_url)
        self.worker_env = environment(db, redis_url, WORKER_APP)
        self.worker_env.update(item.split("=", 1) for item in worker_env or [])
        self.plans: dict[str, playlists.Plan] = {}
        self.station_plan: dict[str, str] = {}
        self.paths: dict[int, str] = {}
        self.stations: Stations | None = None
        self.portal: Portal | None = None

    # --- catalog ---

    def prepare(self, *, reuse: bool) -> dict:
        """The scratch database with half the corpus indexed (kept between runs with `reuse`)."""
        indexed, never = playlists.catalog_split()
        os.environ.update(self.env)
        wanted = {item["sha256"] for item in indexed}
        if not (reuse and self.db.exists() and self._catalog() == wanted):
            self.db.recreate()
            manage(self.env, "migrate", "-v0")
            self._ingest(indexed)
        else:
            manage(self.env, "migrate", "-v0")
        self.db.query("TRUNCATE monitors_monitor, monitors_detection CASCADE; SELECT 1")
        by_sha = {item["sha256"]: item["path"] for item in indexed}
        rows = self.db.query("SELECT id, sha256 FROM catalog_track")
        self.paths = {track_id: by_sha.get(sha, "") for track_id, sha in rows}
        held = shared.screen(never, indexed)
        return {
            "indexed_tracks": len(indexed),
            "indexed_h": round(sum(i["duration_s"] for i in indexed) / 3600, 2),
            "never_indexed_files": len(never),
            "never_indexed_h": round(sum(i["duration_s"] for i in never) / 3600, 2),
            # Not played as never-indexed music: they hold an indexed track's audio.
            "holding_catalog_audio": [{"path": path, **where} for path, where in sorted(held.items())],
        }

    def _catalog(self) -> set[str]:
        try:
            return {sha for (sha,) in self.db.query("SELECT sha256 FROM catalog_track")}
        except Exception:  # no such database or table yet
            return set()

    def _ingest(self, indexed: list[dict]) -> None:
        import django

        django.setup()
        from accounts.models import Role
        from accounts.services import user_create
        from recognition.services import track_ingest

        owner = user_create(username="bench-catalog", password=None, role=Role.RIGHTS_HOLDER)
        for item in indexed:
            outcome = track_ingest(path=item["path"], owner=owner, store_audio=False)
            if outcome.status == "failed":
                raise SystemExit(f"ingest failed for {item['path']}: {outcome.status} {outcome.reason}")

    # --- stations ---

    def start_stations(self, plans: int, copies_to: int, seed: int) -> None:
        """`plans` distinct stations (the last HLS_STATIONS of them HLS), then MP3 copies of the
        MP3 plans, clocks staggered, up to `copies_to` stations in all."""
        indexed, never = playlists.catalog_split()
        held = shared.screen(never, indexed)
        never = [item for item in never if item["path"] not in held]
        specs = []
        hls = min(HLS_STATIONS, plans // 3)
        for n in range(plans):
            plan = playlists.plan_station(f"p{n:02d}", seed * 1000 + n, PLAN_S, indexed, never)
            self.plans[plan.name] = plan
            wav = playlists.render(plan, seed=seed * 1000 + n)
            kind = "hls" if n >= plans - hls else "mp3"
            name = f"s{n:03d}"
            self.station_plan[name] = plan.name
            specs.append(StationSpec(name, kind, str(wav)))
        mp3_plans = [s for s in specs if s.kind == "mp3"]
        for n in range(plans, copies_to):
            base = mp3_plans[n % len(mp3_plans)]
            name = f"s{n:03d}"
            self.station_plan[name] = self.station_plan[base.name]
            specs.append(StationSpec(name, "mp3", base.wav, t0_offset_s=(97.0 * n) % PLAN_S))
        self.stations = Stations(specs)

    def pick(self, count: int) -> list[str]:
        """`count` stations, a third of them HLS (up to the HLS stations there are)."""
        assert self.stations is not None
        clocks = self.stations.clocks
        hls = [name for name in sorted(clocks) if clocks[name]["kind"] == "hls"]
        mp3 = [name for name in sorted(clocks) if clocks[name]["kind"] == "mp3"]
        n_hls = min(len(hls), count // 3)
        if count - n_hls > len(mp3):
            raise SystemExit(f"only {len(mp3) + len(hls)} stations for {count} streams")
        return mp3[: count - n_hls] + hls[:n_hls]

    # --- ground truth ---

    def plays(self, station: str, monitor_id: int, until: float) -> list[scoring.Play]:
        """Every item of the station's looped playlist aired by `until`."""
        assert self.stations is not None
        clock = self.stations.clocks[station]
        plan = self.plans[self.station_plan[station]]
        ends = clock.get("segment_ends_s")
        found = []
        for rounds in range(int(max(0.0, until - clock["t0"]) // plan.duration_s) + 1):
            base = clock["t0"] + rounds * plan.duration_s
            for item in plan.items:
                start = base + item.start_s
                if start > until:
                    break
                sent = None
                if ends:  # HLS: published with the segment that holds its first sample
                    sent = base + next((end for end in ends if end > item.start_s + 0.01), ends[-1])
                found.append(scoring.Play(monitor_id, item.kind, item.path, item.offset_s, start,
                                          start + item.duration_s, clock["kind"], sent))  # fmt: skip
        return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def phase(ctx: Context, label: str, count: int, seconds: float, *, workers: int = 2, api_rate: float = 12.0) -> dict:
    """Monitor `count` stations for `seconds` with `workers` worker processes; return the figures."""
    assert ctx.stations is not None and ctx.portal is not None
    names = ctx.pick(count)
    print(f"[{label}] {count} streams for {seconds:.0f} s", flush=True)
    ids = ctx.portal.create_many({name: ctx.stations.clocks[name]["url"] for name in names})
    watch = Watch(ctx.db, list(ids.values()), ctx.portal, api_rate_per_s=min(api_rate, count)).start()
    # PostgreSQL's CPU while only the pollers run: subtracted from what it spends once the workers do.
    meter = CpuMeter(ctx.db, [])
    meter.start()
    quiet_from = time.time()
    time.sleep(BASELINE_S)
    pollers_rate = meter.database_rate(quiet_from, time.time())
    crew = [Worker(ctx.worker_env, math.ceil(count / workers)) for _ in range(workers)]
    meter.worker_pids[:] = [w.pid for w in crew]
    deadline = time.time() + 120
    while len(watch.seen.running_since) < count and time.time() < deadline:
        time.sleep(0.5)
    all_running = time.time()
    busy_before = _machine_busy()
    table_before = processes()
    time.sleep(max(0.0, seconds - (time.time() - all_running)))
    end = time.time()
    busy_after = _machine_busy()
    ours = [os.getpid(), *(w.pid for w in crew), ctx.stations.process.pid, ctx.portal.process.pid]
    if meter.postmaster:
        ours.append(meter.postmaster)
    elsewhere = others(table_before, processes(), ours)
    meter.stop()
    for worker in crew:
        worker.stop()
    seen = watch.stop()
    for monitor_id in ids.values():
        ctx.portal.delete(monitor_id)
    result = summarise(ctx, label, names, ids, seen, meter, all_running, end, busy_before, busy_after, crew)
    span = result["cpu_s"]["span_s"]
    result["cpu_s"]["database_pollers_s"] = round(pollers_rate * span, 2)
    result["cpu_s"]["database_s"] = round(max(0.0, result["cpu_s"]["database_s"] - pollers_rate * span), 2)
    stream_h = result["stream_h"]
    result["cpu_s_per_stream_h"]["database"] = round(result["cpu_s"]["database_s"] / stream_h, 1) if stream_h else None
    result["other_processes"] = elsewhere
    result["api"]["poll_period_s"] = round(count / watch.api_rate_per_s, 2)
    result["worker_connections_per_s"] = round(len(meter.backends_seen) / max(1.0, span), 2)
    print(f"[{label}] " + json.dumps({k: result[k] for k in ("plays", "missed", "latency_s", "start_error_s",
          "false_detections", "cpu_s_per_stream_h", "machine_busy_cores", "holds")}), flush=True)  # fmt: skip
    return result


def summarise(ctx, label, names, ids, seen, meter, all_running, end, busy_before, busy_after, crew) -> dict:
    windows = {
        mid: scoring.Window(mid, seen.running_since[mid], end) for mid in ids.values() if mid in seen.running_since
    }
    plays = [p for name in names for p in ctx.plays(name, ids[name], end)]
    detections = [
        scoring.Seen(row[0], row[1], ctx.paths.get(row[2], ""), float(row[3]), float(row[4]), row[5], row[6],
                     float(row[7]), seen.visible_at.get(row[0]))
        for row in seen.rows.values()
    ]  # fmt: skip
    judged = scoring.judge(plays, detections, windows, same_recording=_same_recording)
    _set_apart_shared_material(judged)
    for false in judged["false"]:  # how close what was on air comes to the track named, for the reader
        if false["playing"] and false["detected"]:
            false["similarity"] = round(
                similarity(false["playing"], false["playing_offset_s"], false["detected"], false["detected_offset_s"]),
                2,
            )
    raw = OUT / "monitor" / f"{label}-raw.json"
    raw.write_text(json.dumps({"plays": [p.__dict__ for p in plays], "detections": [d.__dict__ for d in detections],
                               "windows": [w.__dict__ for w in windows.values()], "stations": {
                                   name: ids[name] for name in names}}))  # fmt: skip
    cpu = meter.between(all_running, end)
    stream_h = len(windows) * (end - all_running) / 3600
    api_lag = [d.visible_at - d.created_at for d in detections if d.visible_at is not None]
    heard = [state[3] for state in seen.states.values()]
    busy = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1]) * (os.cpu_count() or 1)
    result = {
        "label": label,
        "streams": len(names),
        "streams_by_kind": scoring._count(ctx.stations.clocks[n]["kind"] for n in names),
        "running": len(windows),
        "seconds": round(end - all_running, 1),
        "stream_h": round(stream_h, 3),
        **judged,
        "api": {
            "polls": seen.api_polls,
            "errors": seen.api_errors,
            "seen_after_row_written_s": scoring._spread(api_lag),
            "detections_never_seen_in_api": sum(d.visible_at is None for d in detections),
        },
        "cpu_s": cpu,
        "cpu_s_per_stream_h": {
            "workers": round(cpu["workers_s"] / stream_h, 1) if stream_h else None,
            "database": round(cpu["database_s"] / stream_h, 1) if stream_h else None,
        },
        "heard_last_minute_s": {
            "min": min(heard) if heard else None,
            "median": statistics.median(heard) if heard else None,
        },
        "machine_busy_cores": round(busy, 2),
        "workers_alive_at_end": sum(w.alive() for w in crew),
        "states_at_end": scoring._count(state[0] for state in seen.states.values()),
    }
    p95 = judged["latency_s"]["p95"]
    result["holds"] = bool(
        p95 is not None and p95 <= GOAL_P95_S and judged["missed"] <= MISSED_SHARE_HOLDS * max(1, judged["plays"])
        and len(windows) == len(names)
    )  # fmt: skip
    return result


def _set_apart_shared_material(judged: dict) -> None:
    """Move the detections that named audio the file on air really holds (bench/monitor/shared.py)
    from `false` to `shared`; the counts follow."""
    from bench.monitor.shared import shared_material

    false, shared = [], []
    for row in judged["false"]:
        found = None
        if row["playing"] and row["detected"]:
            found = shared_material(row["playing"], row["playing_offset_s"], row["duration_s"], row["detected"])
        if found is None:
            false.append(row)
        else:
            shared.append({**row, "evidence": found})
    judged["false"], judged["shared"] = false, shared
    judged["false_detections"] -= len(shared)  # `false` lists the first 50 only; the count is of all
    for row in shared:
        judged["false_by_kind"][row["during"]] -= 1
    judged["shared_material"] = len(shared)


# The worker's clock for a stream may be seconds off the station's (a burst on connect, an HLS
# client starting segments behind), so a version is looked for over these shifts of the airtime.
CLOCK_SHIFTS_S = [x / 4 for x in range(-40, 9)]


def similarity(playing: str, offset_s: float, detected: str, detected_offset_s: float) -> float:
    """Best spectrogram similarity (bench/versions.py) of the detected track at its offset with
    what was on air, over CLOCK_SHIFTS_S; -1 when a file cannot be read."""
    from bench import versions

    try:
        return max(
            versions.similarity(playing, offset_s + shift, detected, detected_offset_s, 5.0)
            for shift in CLOCK_SHIFTS_S
            if offset_s + shift >= 0
        )
    except Exception:  # a file the decoder refuses is not the same recording
        return -1.0


def _same_recording(playing: str, offset_s: float, detected: str, detected_offset_s: float) -> bool:
    from bench import versions

    return similarity(playing, offset_s, detected, detected_offset_s) >= versions.SAME_RECORDING


def combine(phases: list[dict]) -> dict:
    """False detections and never-indexed exposure over every phase."""
    return {
        "false_detections": sum(p["false_detections"] for p in phases),
        "exposure_s": {
            kind: round(sum(p["exposure_s"][kind] for p in phases), 1) for kind in ("unknown", "speech", "silence")
        },
    }


def machine() -> str:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{platform.machine()}, {os.cpu_count()} cores ({model})"


STEP_KEYS = ("label", "streams", "streams_by_kind", "running", "seconds", "stream_h", "plays", "missed", "latency_s",
             "cpu_s", "cpu_s_per_stream_h", "worker_connections_per_s", "machine_busy_cores", "other_processes",
             "holds", "heard_last_minute_s", "states_at_end", "false_detections", "exposure_s")  # fmt: skip


def run(args) -> dict:
    """Run the parts asked for; merge them into monitor.json (each part keeps its own date)."""
    db = Database(args.database, args.port, args.cluster)
    ctx = Context(db, args.redis, args.worker_env)
    started = time.time()
    corpus.load_or_build(OUT / "corpus.json")
    catalog = ctx.prepare(reuse=not args.fresh)
    print(f"catalog ready: {catalog}", flush=True)
    parts = ["accuracy"] if args.quick else ([args.only] if args.only else ["accuracy", "capacity"])
    accuracy_count = 6 if args.quick else ACCURACY_STREAMS
    accuracy_s = 150.0 if args.quick else args.accuracy_seconds
    steps = args.steps if "capacity" in parts else []
    ctx.start_stations(plans=accuracy_count, copies_to=max([accuracy_count, *steps]), seed=args.seed)
    ctx.portal = Portal(ctx.env)
    when = time.strftime("%Y-%m-%d %H:%M")
    out = (OUT / "monitor" / "monitor_quick.json") if args.quick else (RESULTS / "monitor.json")
    report: dict = json.loads(out.read_text()) if out.exists() and not args.quick and args.only else {}
    try:
        if "accuracy" in parts:
            report["accuracy"] = phase(ctx, "accuracy", accuracy_count, accuracy_s)
        if "capacity" in parts:
            found = []
            for count in steps:
                # The API is polled gently here: its Daphne shares the two cores being measured.
                found.append(phase(ctx, f"step-{count}", count, args.step_seconds, api_rate=CAPACITY_API_RATE))
                # The goal's own step is always measured; past it, the steps go on while they hold.
                if not found[-1]["holds"] and count >= GOALS["streams"]:
                    break
            report["steps"] = [{k: p[k] for k in STEP_KEYS} for p in found]
            held = [p["streams"] for p in found if p["holds"]]
            report["most_streams_held"] = max(held) if held else 0
            report["broke_at"] = None if found[-1]["holds"] else found[-1]["streams"]
    finally:
        ctx.portal.stop()
        if ctx.stations is not None:
            ctx.stations.stop()
    report.setdefault("measured", {}).update(dict.fromkeys(parts, when))
    report.update({
        "when": max(report["measured"].values()),
        "machine": machine(),
        "quick": bool(args.quick),
        "catalog": catalog,
        "speech": "synthetic speech-like sound (espeak-ng is not installed by the bootstrap)",
        "database_cpu": "the scratch cluster's whole tree, less the pollers' share" if db.cluster
        else "the workers' live backends, sampled",
        "workers": 2,
        "worker_env": args.worker_env,
        "goals": GOALS,
        "all_phases": combine([p for p in [report.get("accuracy"), *report.get("steps", [])] if p]),
        "wall_s": round(time.time() - started),
    })  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}", flush=True)
    return report
