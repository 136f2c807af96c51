"""`python -m bench.monitor faults`: monitors under faults (RELIABILITY.md G23).

* kill:     SIGKILL the worker holding the monitors while catalog songs play, a second worker
            standing by: it must take them over within 30 s, and each play must stay one row;
* station:  stop the stream server mid-play and start it again 5 s later on the same port: the
            monitors must reconnect (back to running) and the play go on in its row or reopen once;
* postgres: restart PostgreSQL mid-play (the scratch cluster only): the workers must live on and
            keep detecting.

The stations play long catalog excerpts (60-80 s) between short stretches of music never indexed,
so every fault lands inside a play. Results go to bench/results/monitor_faults.json.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from bench import OUT, RESULTS, corpus
from bench.monitor import playlists, scoring
from bench.monitor.bench import Context, machine
from bench.monitor.rig import Database, Watch, Worker

STATIONS = 4
GOAL_TAKEOVER_S = 30.0
DOWN_S = 5.0


def fault_plan(name: str, seed: int, indexed: list[dict], never: list[dict]) -> playlists.Plan:
    """Long catalog plays with 12 s of never-indexed music between them, about 10 minutes."""
    rng = random.Random(seed)
    songs = [f for f in indexed if f["duration_s"] >= 100]
    others = [f for f in never if f["duration_s"] >= 40]
    items, at = [], 0.0
    while at < 600:
        unknown = rng.choice(others)
        items.append(playlists.Item("unknown", unknown["path"], round(rng.uniform(2, unknown["duration_s"] - 20), 2),
                                    round(at, 2), 12.0, False))  # fmt: skip
        at += 12.0
        last = items[-2].path if len(items) > 1 else ""
        song = rng.choice([f for f in songs if f["path"] != last])
        length = round(rng.uniform(60, 80), 2)
        offset = round(rng.uniform(2, song["duration_s"] - length - 2), 2)
        items.append(playlists.Item("catalog", song["path"], offset, round(at, 2), length, False))
        at += length
    return playlists.Plan(name, tuple(items), round(at, 2))


class Rig:
    """The faults' stations (served in this process, so they can be restarted), monitors and workers."""

    def __init__(self, ctx: Context, seed: int):
        import wave

        import numpy as np

        from bench import streams

        self.ctx = ctx
        indexed, never = playlists.catalog_split()
        stations = {}
        for n in range(STATIONS):
            plan = fault_plan(f"f{n}", seed * 100 + n, indexed, never)
            wav = playlists.render(plan, seed=seed * 100 + n)
            with wave.open(str(wav), "rb") as handle:
                pcm = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32767
            name = f"f{n}"
            ctx.plans[plan.name] = plan
            ctx.station_plan[name] = plan.name
            stations[name] = streams.Station([streams.Item(name, pcm, playlists.RATE_HZ)], fmt="mp3", loop=True)
        self.server = streams.StreamServer(stations, burst_s=2.0, tick_s=0.1).start()
        self.clocks = {
            name: {"url": self.server.station_url(name), "t0": s.t0, "kind": "mp3"} for name, s in stations.items()
        }
        ctx.stations = type("Served", (), {"clocks": self.clocks})()  # what Context.plays reads
        self.monitors = self._create()

    def _create(self) -> dict[str, int]:
        import django

        django.setup()
        from accounts.models import Role, User
        from accounts.services import user_create
        from recognition.monitors.services import monitor_create

        owner = User.objects.filter(username="bench-faults").first() or user_create(
            username="bench-faults", password=None, role=Role.MONITOR
        )
        return {
            name: monitor_create(owner=owner, name=name, source_url=clock["url"])[0].pk
            for name, clock in self.clocks.items()
        }

    def plays(self, until: float) -> list[scoring.Play]:
        return [p for name, mid in self.monitors.items() for p in self.ctx.plays(name, mid, until)]

    def mid_play(self, watch: Watch, *, remaining_s: float = 30.0, timeout_s: float = 150.0) -> list[scoring.Play]:
        """Wait until at least two monitors have an open detection of a play with `remaining_s` to go."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            now = time.time()
            open_monitors = {row[1] for row in watch.seen.rows.values() if row[6]}
            current = [p for p in self.plays(now) if p.kind == "catalog" and p.start_at <= now < p.end_at]
            ready = [p for p in current if p.monitor_id in open_monitors and p.end_at - now >= remaining_s]
            if len(ready) >= min(2, STATIONS):
                return ready
            time.sleep(0.5)
        raise SystemExit("no play was detected in time to strike mid-play; see bench/out/monitor/logs")

    def rows_of(self, watch: Watch, play: scoring.Play) -> list[scoring.Seen]:
        """The detection rows of `play`'s track that overlap it, oldest first."""
        return sorted(
            (d for d in self._seen(watch) if d.monitor_id == play.monitor_id and d.path == play.path
             and d.started_at < play.end_at + 5 and d.ended_at > play.start_at - 5),
            key=lambda d: d.started_at,
        )  # fmt: skip

    def rows_per_play(self, watch: Watch, plays: list[scoring.Play]) -> list[int]:
        """How many detection rows each of `plays` ended up with."""
        return [len(self.rows_of(watch, p)) for p in plays]

    def evidence(self, watch: Watch, plays: list[scoring.Play], struck: float) -> list[dict]:
        """Each struck play and its rows, in seconds from the fault, for a reader to check."""
        return [
            {
                "track": Path(p.path).name,
                "play_s": [round(p.start_at - struck, 1), round(p.end_at - struck, 1)],
                "play_offset_start_s": round(p.offset_s, 1),
                "rows": [
                    {"s": [round(d.started_at - struck, 1), round(d.ended_at - struck, 1)],
                     "offset_start_s": round(d.offset_start_s, 1), "written_s": round(d.created_at - struck, 1)}
                    for d in self.rows_of(watch, p)
                ],
            }
            for p in plays
        ]  # fmt: skip

    def _seen(self, watch: Watch) -> list[scoring.Seen]:
        return [
            scoring.Seen(r[0], r[1], self.ctx.paths.get(r[2], ""), float(r[3]), float(r[4]), r[5], r[6], float(r[7]))
            for r in watch.seen.rows.values()
        ]

    def judge(self, watch: Watch, start: float, end: float) -> dict:
        windows = {mid: scoring.Window(mid, start, end) for mid in self.monitors.values()}
        return scoring.judge(self.plays(end), self._seen(watch), windows)


def _wait_running(watch: Watch, owner: str | None = None, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        states = watch.seen.states
        if len(states) == STATIONS and all(
            s[0] == "running" and (owner is None or s[2].split(":")[1] == owner) for s in states.values()
        ):
            return
        time.sleep(0.5)
    raise SystemExit(f"monitors not running after {timeout_s:.0f} s: {watch.seen.states}")


def _resumed_s(watch: Watch, owner_pid: int, since: float) -> dict[int, float | None]:
    """Per monitor: seconds from `since` until a worker of `owner_pid` reported audio heard."""
    found: dict[int, float | None] = {}
    for monitor_id in watch.seen.states:
        heard = [
            heard_at
            for _, mid, _, owner, heard_at in watch.seen.heard
            if mid == monitor_id and owner.split(":")[1] == str(owner_pid) and heard_at > since
        ]
        found[monitor_id] = round(min(heard) - since, 2) if heard else None
    return found


def kill_trial(rig: Rig, watch: Watch, active: Worker, standby: Worker) -> dict:
    plays = rig.mid_play(watch)
    struck = time.time()
    active.kill()
    print(f"[kill] worker {active.pid} killed; {standby.pid} stands by", flush=True)
    deadline = struck + 90
    while time.time() < deadline:
        resumed = _resumed_s(watch, standby.pid, struck)
        if all(v is not None for v in resumed.values()):
            break
        time.sleep(0.5)
    resumed = _resumed_s(watch, standby.pid, struck)
    time.sleep(max(0.0, max(p.end_at for p in plays) + 20 - time.time()))  # the plays end and close
    rows = rig.rows_per_play(watch, plays)
    return {
        "resumed_s": sorted(v for v in resumed.values() if v is not None),
        "not_resumed": sum(v is None for v in resumed.values()),
        "plays_struck": len(plays),
        "rows_per_struck_play": rows,
        "struck": rig.evidence(watch, plays, struck),
    }


def station_trial(rig: Rig, watch: Watch) -> dict:
    plays = rig.mid_play(watch)
    struck = time.time()
    rig.server.stop()
    time.sleep(DOWN_S)
    rig.server.start()
    back = time.time()
    print(f"[station] stopped for {back - struck:.1f} s", flush=True)
    deadline = back + 90
    reconnected: dict[int, float] = {}
    while time.time() < deadline and len(reconnected) < STATIONS:
        for monitor_id, state in watch.seen.states.items():
            if state[0] == "running" and state[1] > struck and monitor_id not in reconnected:
                reconnected[monitor_id] = round(state[1] - back, 2)
        time.sleep(0.5)
    states = sorted({s for t, _, s, _ in watch.seen.transitions if t > struck})
    time.sleep(max(0.0, max(p.end_at for p in plays) + 20 - time.time()))
    return {
        "down_s": round(back - struck, 1),
        "states_seen": states,
        "running_again_s_after_restart": sorted(reconnected.values()),
        "not_reconnected": STATIONS - len(reconnected),
        "plays_struck": len(plays),
        "rows_per_struck_play": rig.rows_per_play(watch, plays),
        "struck": rig.evidence(watch, plays, struck),
    }


def _log_moving(watch: Watch, since: float) -> dict[int, float]:
    """Per monitor: seconds from `since` until one of its detection rows was written or extended."""
    moved: dict[int, float] = {}
    for row in watch.seen.rows.values():
        written = max(float(row[7]), float(row[8]))
        if written > since + 0.5:
            moved[row[1]] = min(moved.get(row[1], written - since), written - since)
    return {monitor: round(seconds, 2) for monitor, seconds in moved.items()}


def postgres_trial(rig: Rig, watch: Watch, crew: list[Worker]) -> dict:
    db = rig.ctx.db
    plays = rig.mid_play(watch)
    struck = time.time()
    db.pg("stop", "-m", "fast")
    time.sleep(2.0)
    db.pg("start")
    back = time.time()
    print(f"[postgres] restarted in {back - struck:.1f} s", flush=True)
    deadline = back + 150
    while time.time() < deadline and len(_log_moving(watch, back)) < STATIONS:
        time.sleep(1.0)
    moving = _log_moving(watch, back)
    heard_again: dict[int, float] = {}
    for _, monitor_id, _, _, heard_at in watch.seen.heard:
        if heard_at and heard_at > back and monitor_id not in heard_again:
            heard_again[monitor_id] = round(heard_at - back, 2)
    time.sleep(max(0.0, max(p.end_at for p in plays) + 20 - time.time()))
    return {
        "restart_s": round(back - struck, 1),
        "workers_alive": sum(w.alive() for w in crew),
        "workers": len(crew),
        "heard_again_s": sorted(heard_again.values()),
        "detecting_again_s": sorted(moving.values()),
        "monitors_detecting_again": len(moving),
        "plays_struck": len(plays),
        "rows_per_struck_play": rig.rows_per_play(watch, plays),
        "struck": rig.evidence(watch, plays, struck),
    }


def run(args) -> dict:
    db = Database(args.database, args.port, args.cluster)
    ctx = Context(db, args.redis, args.worker_env)
    corpus.load_or_build(OUT / "corpus.json")
    ctx.prepare(reuse=not args.fresh)
    rig = Rig(ctx, args.seed)
    watch = Watch(db, list(rig.monitors.values()), None).start()
    started = time.time()
    report: dict = {"when": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(), "stations": STATIONS}
    crew: list[Worker] = []
    try:
        active = Worker(ctx.worker_env, STATIONS * 2)
        crew.append(active)
        _wait_running(watch, str(active.pid))
        kills = []
        for _ in range(args.trials):
            standby = Worker(ctx.worker_env, STATIONS * 2)
            crew.append(standby)
            time.sleep(3)  # the stand-by is up and polling, holding nothing
            kills.append(kill_trial(rig, watch, active, standby))
            print("[kill]", kills[-1], flush=True)
            active = standby
        report["kill"] = kills
        stations = [station_trial(rig, watch) for _ in range(args.trials)]
        report["station_restart"] = stations
        print("[station]", stations, flush=True)
        alive = [w for w in crew if w.alive()]
        if db.cluster:
            report["postgres_restart"] = [postgres_trial(rig, watch, alive) for _ in range(args.trials)]
            print("[postgres]", report["postgres_restart"], flush=True)
        else:
            report["postgres_restart"] = None  # only on a cluster of its own (scripts/bench_monitor.sh)
        report["whole_run"] = {
            k: v
            for k, v in rig.judge(watch, started, time.time()).items()
            if k in ("plays", "detected", "missed", "split_plays", "false_detections", "latency_s")
        }
    finally:
        for worker in crew:
            worker.stop()
        watch.stop()
        rig.server.stop()
    report["ok"] = verdict(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitor_faults.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1), flush=True)
    (OUT / "monitor" / "faults-raw.json").write_text(json.dumps({
        "plays": [p.__dict__ for p in rig.plays(time.time())], "rows": list(watch.seen.rows.values()),
        "transitions": watch.seen.transitions, "monitors": rig.monitors,
    }, default=float))  # fmt: skip
    return report


def verdict(report: dict) -> bool:
    """G23: takeover within 30 s and one row per play; reconnection; the workers outlive PostgreSQL."""
    kills = report.get("kill") or []
    ok = all(
        not k["not_resumed"]
        and max(k["resumed_s"]) <= GOAL_TAKEOVER_S
        and all(n == 1 for n in k["rows_per_struck_play"])
        for k in kills
    )
    ok &= all(not s["not_reconnected"] and all(n <= 2 for n in s["rows_per_struck_play"])
              for s in report.get("station_restart") or [])  # fmt: skip
    ok &= all(p["workers_alive"] == p["workers"] and p["monitors_detecting_again"] == STATIONS
              for p in report.get("postgres_restart") or [])  # fmt: skip
    return bool(kills) and ok
