"""The processes a monitor benchmark runs and watches: database, stations, portal, workers, pollers.

Every process is started here and stopped by its own handle. Times are Unix epochs on this
machine's clock, shared by the stream servers, the workers (which stamp `created_at`) and the
pollers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

from bench import OUT, ROOT, live
from bench.monitor import playlists

WORKER_APP = "earshot-monitor-worker"
LOGS = OUT / "monitor" / "logs"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Database:
    """The scratch database on a PostgreSQL cluster (its own cluster when `cluster` is set)."""

    name: str = "earshot_monitor"
    port: int = 5432
    cluster: str = ""  # "VERSION/NAME" of a cluster the benchmark may stop and start

    def url(self, application: str = "") -> str:
        suffix = f"?application_name={application}" if application else ""
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.name}{suffix}"

    def connect(self, retries_s: float = 60.0):
        deadline = time.monotonic() + retries_s
        while True:
            try:
                connection = psycopg2.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname=self.name, connect_timeout=2
                )
                connection.autocommit = True
                return connection
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def admin(self):
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        return connection

    def exists(self) -> bool:
        with contextlib.closing(self.admin()) as admin, admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.name])
            return cursor.fetchone() is not None

    def recreate(self) -> None:
        with contextlib.closing(self.admin()) as admin, admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {self.name}")

    def postmaster_pid(self) -> int | None:
        """The cluster's postmaster, whose process tree is all of PostgreSQL's CPU (own cluster only)."""
        try:
            with contextlib.closing(self.connect(5)) as connection, connection.cursor() as cursor:
                cursor.execute("SHOW data_directory")
                folder = cursor.fetchone()[0]
            return int(Path(folder, "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, psycopg2.Error):
            return None

    def pg(self, action: str, *extra: str) -> None:
        version, name = self.cluster.split("/")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action, *extra],
            check=True,
            capture_output=True,
        )

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with contextlib.closing(self.connect()) as connection, connection.cursor() as cursor:
            cursor.execute(sql, params or [])
            return cursor.fetchall()


def environment(db: Database, redis_url: str, application: str = "") -> dict[str, str]:
    """What every Django process of the benchmark runs with."""
    return {
        **os.environ,
        "DATABASE_URL": db.url(application),
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_MEDIA_ROOT": str(OUT / "monitor" / "media"),
        "EARSHOT_MONITOR_PRIVATE_SOURCES": "1",  # the stations are on loopback
        "EARSHOT_MONITORS_PER_USER": "100000",
        "EARSHOT_API_RATE_PER_MINUTE": "1000000",
        "EARSHOT_API_BURST": "1000000",
    }


def manage(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "manage.py", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


# --- CPU ---------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its reaped children) from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), sum(int(x) for x in fields[11:15]) / CLK_TCK


def tree_cpu_s(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and every descendant, alive or reaped."""
    parents: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found:
                parents.setdefault(found[0], []).append(int(entry))
                times[int(entry)] = found[1]
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in times:
            continue
        seen.add(pid)
        total += times[pid]
        todo += parents.get(pid, [])
    return total


def processes() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU seconds with reaped children)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat:
                found[int(entry)] = stat
    return found


def descendants(roots: list[int], table: dict[int, tuple[int, float]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def others(before: dict[int, tuple[int, float]], after: dict[int, tuple[int, float]], ours: list[int]) -> list[dict]:
    """What else used the CPU between two snapshots: the five busiest processes not of the run."""
    mine = descendants(ours, after) | descendants(ours, before)
    spent = []
    for pid, (_, cpu) in after.items():
        if pid in mine:
            continue
        used = cpu - before.get(pid, (0, 0.0))[1]
        if used >= 1.0:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:90].strip()
            except OSError:
                command = "?"
            spent.append({"command": command, "cpu_s": round(used, 1)})
    return sorted(spent, key=lambda p: -p["cpu_s"])[:5]


def backend_pids(db: Database, application: str) -> list[int]:
    rows = db.query("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application])
    return [pid for (pid,) in rows]


class CpuMeter(threading.Thread):
    """Samples the CPU of the workers (with their ffmpeg children) and of PostgreSQL every second.

    With a cluster of its own, PostgreSQL's CPU is its postmaster's whole tree (backends that
    exited included); on a shared cluster, only the workers' live backends, sampled.
    """

    def __init__(self, db: Database, worker_pids: list[int]):
        super().__init__(daemon=True)
        self.db = db
        self.worker_pids = worker_pids
        self.postmaster = db.postmaster_pid() if db.cluster else None
        self.stop_event = threading.Event()
        self.backends: dict[int, float] = {}
        self.backends_start: dict[int, float] = {}
        self.backends_seen: set[int] = set()  # connections the workers opened (CONN_MAX_AGE=0 opens many)
        self.samples: list[tuple[float, float, float]] = []  # (time, workers, database)

    def sample(self) -> tuple[float, float, float]:
        workers = tree_cpu_s(self.worker_pids)
        pids: list[int] = []
        with contextlib.suppress(psycopg2.Error):
            pids = backend_pids(self.db, WORKER_APP)
        self.backends_seen.update(pids)
        if self.postmaster:
            database = tree_cpu_s([self.postmaster])
        else:
            if pids:
                for pid in pids:
                    found = _stat(pid)
                    if found:
                        self.backends.setdefault(pid, found[1])
                        self.backends_start.setdefault(pid, found[1])
                        self.backends[pid] = found[1]
            database = sum(self.backends.values()) - sum(self.backends_start.values())
        point = (time.time(), workers, database)
        self.samples.append(point)
        return point

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            self.sample()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(5)
        self.sample()

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds of each part between two times (the nearest samples inside)."""
        inside = [s for s in self.samples if start <= s[0] <= end] or self.samples[-1:]
        first, last = inside[0], inside[-1]
        return {
            "workers_s": round(last[1] - first[1], 2),
            "database_s": round(last[2] - first[2], 2),
            "span_s": round(last[0] - first[0], 2),
        }

    def database_rate(self, start: float, end: float) -> float:
        """PostgreSQL's CPU seconds per second between two times (before the workers: the pollers' share)."""
        spent = self.between(start, end)
        return spent["database_s"] / spent["span_s"] if spent["span_s"] > 0 else 0.0


# --- stations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StationSpec:
    """A station to serve: its plan's audio, its format, and its broadcast clock's start."""

    name: str
    kind: str  # "mp3" or "hls"
    wav: str
    t0_offset_s: float = 0.0  # its clock starts this long before the server does


def serve_stations(specs: list[StationSpec], out: Path) -> None:
    """Serve stations until SIGTERM (run in its own process); write {name: {url, t0}} to `out`.

    MP3 stations share one paced Icecast-style server; each HLS station has a live HLS server.
    Stations with the same audio share one encoding.
    """
    import wave

    import numpy as np

    from bench import streams

    now = time.time()
    audio: dict[str, streams.Item] = {}
    encoded: dict[str, streams.Station] = {}
    mp3: dict[str, streams.Station] = {}
    hls: dict[str, streams.HlsServer] = {}
    for spec in specs:
        if spec.wav not in audio:
            with wave.open(spec.wav, "rb") as handle:
                pcm = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32767
            audio[spec.wav] = streams.Item(Path(spec.wav).stem, pcm, playlists.RATE_HZ)
        if spec.kind == "mp3":
            if spec.wav not in encoded:
                encoded[spec.wav] = streams.Station([audio[spec.wav]], fmt="mp3", loop=True)
            mp3[spec.name] = encoded[spec.wav].copy(t0=now - spec.t0_offset_s)
        else:
            server = streams.HlsServer([audio[spec.wav]], loop=True, preroll_s=0.0)
            server.t0 = now - spec.t0_offset_s
            hls[spec.name] = server.start()
    clocks = {}
    icecast = streams.StreamServer(mp3, burst_s=2.0, tick_s=0.1).start() if mp3 else None
    if icecast is not None:
        for name, station in mp3.items():
            clocks[name] = {"url": icecast.station_url(name), "t0": station.t0, "kind": "mp3"}
    for name, server in hls.items():
        clocks[name] = {"url": server.url("/live.m3u8"), "t0": server.t0, "kind": "hls",
                        "segment_ends_s": server.ends_s}  # fmt: skip
    out.write_text(json.dumps(clocks))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    if icecast is not None:
        icecast.stop()
    for server in hls.values():
        server.stop()


class Stations:
    """A process serving stations; `clocks[name]` has its `url`, `t0` and `kind`."""

    def __init__(self, specs: list[StationSpec]):
        folder = OUT / "monitor"
        folder.mkdir(parents=True, exist_ok=True)
        self.spec_path = folder / "stations.json"
        self.clock_path = folder / "clocks.json"
        self.clock_path.unlink(missing_ok=True)
        self.spec_path.write_text(json.dumps([spec.__dict__ for spec in specs]))
        LOGS.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.monitor", "serve", str(self.spec_path), str(self.clock_path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(LOGS / "stations.log").open("w"),
        )
        deadline = time.monotonic() + 600
        while not self.clock_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the stations did not start; see bench/out/monitor/logs/stations.log")
            time.sleep(0.5)
        self.clocks: dict[str, dict] = json.loads(self.clock_path.read_text())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the portal and its API --------------------------------------------------------------------


class Portal:
    """A live Daphne on the scratch database and a monitor-role API key."""

    def __init__(self, env: dict[str, str]):
        import requests

        self.process, port = live.start_daphne(**{k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"})
        self.base = f"http://127.0.0.1:{port}/api/v1"
        key = manage(env, "create_api_key", "bench-monitor", "--role", "monitor", "--name", "bench").splitlines()[-1]
        self.headers = {"Authorization": f"Api-Key {key.strip()}"}
        self.session = requests.Session()
        for _ in range(100):
            with contextlib.suppress(requests.RequestException):
                if self.session.get(self.base + "/monitors", headers=self.headers, timeout=5).status_code == 200:
                    break
            time.sleep(0.3)

    def create(self, name: str, url: str) -> int:
        import requests

        response = requests.post(
            self.base + "/monitors", json={"name": name, "source_url": url}, headers=self.headers, timeout=30
        )
        if response.status_code != 201:
            raise SystemExit(f"monitor {name} refused: {response.status_code} {response.text[:300]}")
        return int(response.json()["id"])

    def create_many(self, stations: dict[str, str]) -> dict[str, int]:
        """{station name: monitor id}, created four at a time (each is probed first)."""
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda item: self.create(*item), stations.items()))
        return dict(zip(stations, ids, strict=True))

    def delete(self, monitor_id: int) -> None:
        self.session.delete(f"{self.base}/monitors/{monitor_id}", headers=self.headers, timeout=30)

    def detections(self, monitor_id: int) -> list[dict]:
        response = self.session.get(f"{self.base}/monitors/{monitor_id}/detections", headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.json()["results"]

    def stop(self) -> None:
        live.stop_daphne(self.process)


# --- workers -----------------------------------------------------------------------------------


class Worker:
    """A real `manage.py monitor_worker` process."""

    count = 0

    def __init__(self, env: dict[str, str], capacity: int, poll_s: float = 5.0):
        Worker.count += 1
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log = LOGS / f"worker{Worker.count}.log"
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "monitor_worker", "--capacity", str(capacity), "--poll", str(poll_s)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


# --- what the pollers see ----------------------------------------------------------------------

DETECTIONS_SQL = """
SELECT id, monitor_id, track_id, extract(epoch FROM started_at), extract(epoch FROM ended_at), offset_start_s,
       open, extract(epoch FROM created_at), extract(epoch FROM updated_at)
FROM monitors_detection WHERE monitor_id = ANY(%s)
"""
MONITORS_SQL = """
SELECT id, state, extract(epoch FROM state_changed_at), lease_owner, heard_last_minute_s, state_reason,
       extract(epoch FROM heard_at)
FROM monitors_monitor WHERE id = ANY(%s)
"""


@dataclass
class Observation:
    rows: dict[int, tuple] = field(default_factory=dict)  # detection id -> its latest row
    visible_at: dict[int, float] = field(default_factory=dict)  # detection id -> first API poll showing it
    api_polls: int = 0
    api_errors: int = 0
    running_since: dict[int, float] = field(default_factory=dict)  # monitor id -> first seen running
    states: dict[int, tuple] = field(default_factory=dict)  # monitor id -> latest (state, changed, owner, heard)
    transitions: list[tuple[float, int, str, str]] = field(default_factory=list)  # (time, monitor, state, owner)
    heard: list[tuple[float, int, str, str, float]] = field(default_factory=list)  # (..., heard_at) when it moved


class Watch:
    """Polls the database (every detection row and monitor state) and the API (round robin)."""

    def __init__(self, db: Database, monitor_ids: list[int], portal: Portal | None, api_rate_per_s: float = 12.0):
        self.db = db
        self.monitor_ids = monitor_ids
        self.portal = portal
        self.api_rate_per_s = api_rate_per_s
        self.seen = Observation()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._database, daemon=True)]
        if portal is not None:
            self.threads.append(threading.Thread(target=self._api, daemon=True))

    def start(self) -> Watch:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Observation:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)
        self.poll_database()
        return self.seen

    def poll_database(self) -> None:
        now = time.time()
        for row in self.db.query(DETECTIONS_SQL, [self.monitor_ids]):
            self.seen.rows[row[0]] = row
        for monitor_id, state, changed, owner, heard, reason, heard_epoch in self.db.query(
            MONITORS_SQL, [self.monitor_ids]
        ):
            before = self.seen.states.get(monitor_id)
            if before is None or before[0] != state or before[2] != owner:
                self.seen.transitions.append((now, monitor_id, state, owner))
            heard_at = float(heard_epoch) if heard_epoch is not None else None
            if heard_at and (before is None or before[5] != heard_at):
                self.seen.heard.append((now, monitor_id, state, owner, heard_at))
            self.seen.states[monitor_id] = (state, float(changed), owner, heard, reason, heard_at)
            if state == "running" and monitor_id not in self.seen.running_since:
                self.seen.running_since[monitor_id] = float(changed)

    def _database(self) -> None:
        connection_lost = 0
        while not self.stopping.wait(0.5):
            try:
                self.poll_database()
            except psycopg2.Error:
                connection_lost += 1  # PostgreSQL restarting (the faults); try again

    def _api(self) -> None:
        import requests

        assert self.portal is not None
        at = 0
        period = 1.0 / self.api_rate_per_s
        while not self.stopping.is_set():
            started = time.monotonic()
            monitor_id = self.monitor_ids[at % len(self.monitor_ids)]
            at += 1
            try:
                results = self.portal.detections(monitor_id)
                now = time.time()
                self.seen.api_polls += 1
                for detection in results:
                    self.seen.visible_at.setdefault(int(detection["id"]), now)
            except (requests.RequestException, ValueError, KeyError):
                self.seen.api_errors += 1
            self.stopping.wait(max(0.0, period - (time.monotonic() - started)))
