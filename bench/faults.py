"""Fault trials for ingest atomicity (RELIABILITY.md G10), on a scratch database.

    .venv/bin/python -m bench.faults [--trials 20] [--skip-postgres-stop] [--cluster 15/main --port 5432]

Three faults, each at a random moment of a running ingest, until `--trials` of them landed mid-ingest:

* kill:      SIGKILL the ingest process;
* terminate: pg_terminate_backend() its database connection;
* stop:      stop PostgreSQL immediately (`pg_ctlcluster ... stop -m immediate`), then start it again
             and wait for a live Daphne to answer /readyz (the portal recovers on its own).

After every trial: no track may have a hash_count different from its rows, and no row may lack its
track. A control run does the same with a deliberately non-atomic ingest (track committed first,
hashes in a second transaction): the check must catch it, which shows the check can fail.

Stopping PostgreSQL stops every database of that cluster: run it alone, or point it at a scratch
cluster (`pg_createcluster 15 faults -p 5433 --start -- --auth=trust`, then `--cluster 15/faults
--port 5433`) so the rest of the machine keeps its database.
Results go to bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from bench import OUT, RESULTS, ROOT, live
from recognition import store

DB = "earshot_faults"
PORT = 5432  # set from --port
CLUSTER = ""  # "VERSION/NAME", set from --cluster; default: the first version's main cluster
APP_NAME = "earshot-fault-ingest"

# The child process: ingest one file, atomically (the real service) or not (the control).
WORKER = r"""
import os, sys, time, django
django.setup()
from accounts.models import User, Role
from accounts.services import user_create
owner = User.objects.filter(username="faults").first() or user_create(username="faults", password=None,
                                                                     role=Role.RIGHTS_HOLDER)
path, mode = sys.argv[1], sys.argv[2]
print("START", flush=True)
if mode == "atomic":
    from recognition.services import track_ingest
    track_ingest(path=path, owner=owner, store_audio=False)
else:
    # Control: the track row is committed before its hashes are written, in a second transaction.
    from catalog.models import Track, FingerprintStatus
    from recognition import store
    from recognition.services import file_sha256, reference_fingerprints
    reference = reference_fingerprints(path)
    track = Track.objects.create(owner=owner, title=os.path.basename(path), sha256=file_sha256(path),
                                 duration_s=reference.duration_s, hash_count=len(reference.fingerprints),
                                 fingerprint_status=FingerprintStatus.READY)
    time.sleep(0.3)  # the window a crash can fall into
    from django.db import transaction
    with transaction.atomic():
        store.write_track_hashes(track.id, reference.fingerprints)
print("DONE", flush=True)
"""

CHECK_SQL = f"""
SELECT
  (SELECT count(*) FROM ({store.PARTIAL_TRACKS_SQL}) AS partial) AS partial_tracks,
  (SELECT count(*) FROM recognition_fingerprint f
   WHERE NOT EXISTS (SELECT 1 FROM catalog_track t WHERE t.id = f.track_id))
  + (SELECT count(*) FROM recognition_pairlist p
   WHERE NOT EXISTS (SELECT 1 FROM catalog_track t WHERE t.id = p.track_id)) AS orphan_rows,
  (SELECT count(*) FROM catalog_track) AS tracks
"""  # noqa: S608 - composed of constants


def dsn() -> str:
    return f"postgres://postgres@127.0.0.1:{PORT}/{DB}"


def env() -> dict:
    return {
        **os.environ,
        "DATABASE_URL": dsn() + f"?application_name={APP_NAME}",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_MEDIA_ROOT": str(OUT / "fault-media"),
    }


def connect(retries: float = 60):
    deadline = time.monotonic() + retries
    while True:
        try:
            return psycopg2.connect(host="127.0.0.1", port=PORT, user="postgres", dbname=DB, connect_timeout=2)
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def admin_connection():
    """An autocommit connection to the maintenance database (DROP DATABASE refuses transactions)."""
    connection = psycopg2.connect(host="127.0.0.1", port=PORT, user="postgres", dbname="postgres")
    connection.autocommit = True
    return connection


def check() -> dict:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(CHECK_SQL)
        partial, orphans, tracks = cursor.fetchone()
    connection.close()
    return {"partial_tracks": partial, "orphan_rows": orphans, "tracks": tracks}


def reset() -> None:
    admin = admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {DB}")
    admin.close()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)


def clear_catalog() -> None:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_track, recognition_fingerprint, recognition_pairlist CASCADE")
    connection.close()


def songs(count: int) -> list[Path]:
    from catalog.demo import synth_song
    from tests import media

    folder = OUT / "fault-songs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        path = folder / f"song{seed}.wav"
        if not path.exists():
            media.write_wav(path, synth_song(5000 + seed, 240))  # 4 min: ingest takes ~0.5-1 s
        paths.append(path)
    return paths


def start_ingest(path: Path, mode: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(path), mode],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout.readline().strip() == "START"
    return process


def cluster() -> tuple[str, str]:
    if CLUSTER:
        version, name = CLUSTER.split("/")
        return version, name
    version = sorted(os.listdir("/etc/postgresql"))[0]
    return version, "main"


def pg(action: str, *extra: str) -> None:
    version, name = cluster()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, action, *extra], check=True, capture_output=True
    )


def fault(kind: str, process: subprocess.Popen, delay_s: float) -> None:
    time.sleep(delay_s)
    if kind == "kill":
        process.send_signal(signal.SIGKILL)
    elif kind == "terminate":
        admin = admin_connection()
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                [DB, APP_NAME],
            )
        admin.close()
    elif kind == "stop":
        pg("stop", "-m", "immediate")
        time.sleep(0.5)
        pg("start")
    process.wait(timeout=120)


def wait_ready(base_url: str, timeout_s: float = 60) -> float:
    """Seconds until a running Daphne answers /readyz with 200 again."""
    import requests

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if requests.get(base_url + "/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("the portal did not recover after PostgreSQL came back")


def start_daphne() -> tuple[subprocess.Popen, str]:
    """A live portal on the scratch database, ready to answer /readyz."""
    process, port = live.start_daphne(DATABASE_URL=dsn(), DJANGO_MEDIA_ROOT=env()["DJANGO_MEDIA_ROOT"])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--skip-postgres-stop", action="store_true")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--cluster", default="", help="PostgreSQL cluster to fault, VERSION/NAME")
    parser.add_argument("--port", type=int, default=5432, help="that cluster's port")
    args = parser.parse_args()
    global PORT, CLUSTER
    PORT, CLUSTER = args.port, args.cluster
    rng = random.Random(args.seed)
    reset()
    files = songs(args.trials)
    kinds = ["kill", "terminate"] + ([] if args.skip_postgres_stop else ["stop"])
    daphne, url = start_daphne()
    report = {"when": time.strftime("%Y-%m-%d %H:%M"), "trials_per_fault": args.trials, "faults": {}, "control": {}}
    try:
        # How long one ingest takes, to aim the faults inside it.
        probe = start_ingest(files[0], "atomic")
        started = time.monotonic()  # from the worker's START (Django is up) to its exit
        probe.wait()
        span_s = max(0.2, time.monotonic() - started)
        report["ingest_span_s"] = round(span_s, 2)
        clear_catalog()
        for kind in kinds:
            # Trials go on until `--trials` faults have landed inside an ingest (a fault after the
            # ingest finished proves nothing); every trial's result is checked, then cleared.
            broken, interrupted, attempts, recoveries = 0, 0, 0, []
            while interrupted < args.trials and attempts < 5 * args.trials:
                process = start_ingest(files[attempts % len(files)], "atomic")
                attempts += 1
                fault(kind, process, rng.uniform(0, span_s))
                interrupted += "DONE" not in process.stdout.read()
                result = check()
                broken += result["partial_tracks"] > 0 or result["orphan_rows"] > 0
                if kind == "stop":
                    recoveries.append(wait_ready(url))
                clear_catalog()
            report["faults"][kind] = {
                "trials": attempts,
                "trials_interrupted_mid_ingest": interrupted,
                "trials_with_partial_tracks": broken,
                **({"recovery_s_max": round(max(recoveries), 2)} if recoveries else {}),
            }
            print(kind, report["faults"][kind], flush=True)
        # Control: the same kill, aimed anywhere in the non-atomic ingest, must leave partial tracks.
        caught = 0
        for trial in range(args.trials):
            process = start_ingest(files[trial], "control")
            fault("kill", process, rng.uniform(0, span_s + 0.3))
            caught += check()["partial_tracks"] > 0
            clear_catalog()
        report["control"] = {"trials": args.trials, "trials_caught_partial": caught}
        print("control", report["control"], flush=True)
    finally:
        live.stop_daphne(daphne)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(report, indent=1))
    ok = caught > 0 and all(
        f["trials_with_partial_tracks"] == 0 and f["trials_interrupted_mid_ingest"] >= args.trials
        for f in report["faults"].values()
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
