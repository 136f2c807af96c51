"""Retroactive scans: a week of one 24/7 stream's retained history searched for 10 new tracks.

`make bench-retroactive` (~25 min). A StreamMonitor (the live one, `retain=True`, the rest of
the catalog indexed in memory) listens directly, not paced, to a few real hours of the corpus
(bench/corpus.py): first an hour where the 10 tracks to be added later play twice each (whole,
then an excerpt) between catalog and never-indexed music, then hours of catalog and
never-indexed music only. Its minutes go into PostgreSQL as the worker writes them. The real
hours are scanned once (accuracy: start and end against the playlist, misses, false
detections); then the same minutes, the later hours tiled, fill 168 h of a second monitor,
scanned for the speed figure (one process, numpy on one thread). Last, 14 days of minutes on a
monitor keeping 7 are pruned (storage bounded). Database: $DATABASE_URL (default a scratch
`earshot_retro`, created and migrated).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from bench import OUT, RESULTS, corpus

RATE = 8000
SEED = 35
NEW_TRACKS = 10


def _setup_django() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/earshot_retro")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("DJANGO_TASKS_BACKEND", "django.tasks.backends.dummy.DummyBackend")
    import psycopg2

    name = os.environ["DATABASE_URL"].rsplit("/", 1)[1]
    admin = psycopg2.connect("postgres://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _program(manifest: dict, real_hours: float) -> tuple[list[dict], list[dict], list[dict]]:
    """(new tracks, catalog tracks, playlist items: name, path, from_s, seconds, new)."""
    rng = random.Random(SEED)
    indexed = [f for f in manifest["indexed"] if f["duration_s"] >= 60]
    rng.shuffle(indexed)
    new, catalog = indexed[:NEW_TRACKS], [f for f in manifest["indexed"] if f not in indexed[:NEW_TRACKS]]
    unknown = manifest["held_out"] + manifest["foreign"]
    items: list[dict] = []

    def add(entry: dict, *, whole: bool, is_new: bool) -> None:
        length = min(entry["duration_s"], 240.0) if whole else rng.uniform(30, min(90, entry["duration_s"]))
        start = 0.0 if whole else rng.uniform(0, entry["duration_s"] - length)
        items.append({"path": entry["path"], "from_s": round(start, 2), "seconds": round(length, 2), "new": is_new})

    # The first hour: each new track twice, between other music.
    plays = [(n, True) for n in new] + [(n, False) for n in new]
    rng.shuffle(plays)
    for entry, whole in plays:
        add(entry, whole=whole, is_new=True)
        add(rng.choice(catalog if rng.random() < 0.6 else unknown), whole=False, is_new=False)
    # Then other music only.
    while sum(i["seconds"] + 3 for i in items) < real_hours * 3600:
        add(rng.choice(catalog if rng.random() < 0.6 else unknown), whole=rng.random() < 0.5, is_new=False)
    return new, catalog, items


def _listen(catalog: list[dict], items: list[dict]) -> tuple[dict[int, bytes], list[dict], dict]:
    """Run the live monitor over the playlist; return its minutes, the items' stream times, costs."""
    from recognition.engine import Identifier, MemoryIndex, StreamMonitor
    from recognition.engine import fingerprint as fp
    from recognition.engine.monitoring.history import MinuteChunker

    index = MemoryIndex()
    for number, entry in enumerate(catalog):
        index.add(number + 1, fp.fingerprint(corpus.decoded(entry["path"])))
    monitor = StreamMonitor(Identifier(index), retain=True)
    chunker = MinuteChunker()
    minutes: dict[int, bytes] = {}
    rng = np.random.default_rng(SEED)
    at_s = 0.0
    timed = []
    began = time.process_time()
    for item in items:
        gap = rng.normal(0, 0.002, int(rng.uniform(2, 4) * RATE)).astype(np.float32)
        audio = corpus.decoded(item["path"])
        piece = audio[int(item["from_s"] * RATE) : int((item["from_s"] + item["seconds"]) * RATE)]
        for part in (gap, piece):
            if part is piece:
                timed.append({**item, "on_s": at_s, "off_s": at_s + piece.size / RATE})
            for start in range(0, part.size, RATE):
                monitor.push(part[start : start + RATE])
                minutes.update(chunker.add(monitor.take_peaks(), monitor.heard_s * 31.25))
            at_s += part.size / RATE
    monitor.finish()
    minutes.update(chunker.add(monitor.take_peaks(), monitor.heard_s * 31.25))
    minutes.update(chunker.flush())
    return minutes, timed, {"stream_s": at_s, "listen_cpu_s": time.process_time() - began}


def _hashes_per_second(blobs: list[bytes], seconds: float) -> float:
    """The query hashes the live monitor makes of this audio, regenerated from its peaks."""
    from recognition.engine import fingerprint as fp
    from recognition.engine.monitoring import history

    peaks = history._Peaks.of(blobs)
    total = 0
    for frames, bins, wide in peaks.shifts:
        total += fp.pair_peaks(frames.astype(np.float32), bins.astype(np.float32), fp.QUERY, wide)[0].size
    return total / seconds


def _store(owner, name: str, blobs: list[bytes], base: datetime, retention_days: int = 7):
    from recognition.monitors.models import Monitor, RetainedMinute

    monitor = Monitor.objects.create(
        owner=owner, name=name, source_url="https://radio.example/stream", retention_days=retention_days
    )
    for start in range(0, len(blobs), 1000):
        RetainedMinute.objects.bulk_create([
            RetainedMinute(monitor=monitor, started_at=base + timedelta(minutes=k), stream_minute=k, peaks=blob)
            for k, blob in enumerate(blobs[start : start + 1000], start=start)
        ])  # fmt: skip
    return monitor


def _scan(track_ids: list[int], monitor) -> dict:
    from recognition.monitors import retroactive

    wall, cpu = time.perf_counter(), time.process_time()
    result = retroactive.retroactive_scan(track_ids=track_ids, monitor_ids=[monitor.pk])
    return {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "minutes": result.minutes,
        "detections": result.detections,
    }


def _accuracy(detections, timed: list[dict], new_ids: dict[str, int], base: datetime) -> dict:
    """Retroactive detections against the playlist's plays of the new tracks."""
    plays = [t for t in timed if t["new"]]
    starts, ends, matched, false = [], [], set(), []
    for d in detections:
        s0 = (d.started_at - base).total_seconds()
        s1 = (d.ended_at - base).total_seconds()
        hit = [
            i for i, p in enumerate(plays) if new_ids[p["path"]] == d.track_id and s0 < p["off_s"] and s1 > p["on_s"]
        ]
        if not hit:
            false.append({"track_id": d.track_id, "at_s": round(s0, 1)})
            continue
        play = plays[hit[0]]
        matched.add(hit[0])
        starts.append(s0 - play["on_s"])
        ends.append(s1 - play["off_s"])

    def spread(errors: list[float]) -> dict:
        absolute = sorted(abs(e) for e in errors)
        return {
            "median": round(statistics.median(errors), 2) if errors else None,
            "abs_p50": round(statistics.median(absolute), 2) if absolute else None,
            "abs_p95": round(absolute[int(0.95 * (len(absolute) - 1))], 2) if absolute else None,
            "within_1s": round(sum(a <= 1.0 for a in absolute) / len(absolute), 3) if absolute else None,
        }

    return {
        "plays": len(plays),
        "found": len(matched),
        "missed": [
            {"at_s": round(p["on_s"], 1), "seconds": p["seconds"]} for i, p in enumerate(plays) if i not in matched
        ],
        "rows": len(detections),
        "false": false,
        "start_error_s": spread(starts),
        "end_error_s": spread(ends),
    }


def _prune(owner, blobs: list[bytes]) -> dict:
    """14 days of minutes on a monitor keeping 7: pruning leaves 7 days' worth."""
    from recognition.monitors import retention
    from recognition.monitors.models import RetainedMinute

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    week = 7 * 24 * 60
    tiled = [blobs[k % len(blobs)] for k in range(2 * week)]
    monitor = _store(owner, "Two weeks", tiled, now - timedelta(minutes=2 * week))
    before = retention.retained_bytes(monitor_id=monitor.pk)
    began = time.perf_counter()
    pruned = retention.retention_prune()
    prune_s = time.perf_counter() - began
    after = retention.retained_bytes(monitor_id=monitor.pk)
    oldest = RetainedMinute.objects.filter(monitor=monitor).order_by("started_at").first()
    monitor.delete()
    return {
        "bytes_before": before,
        "bytes_after": after,
        "minutes_pruned": pruned.minutes,
        "prune_s": round(prune_s, 2),
        "oldest_kept_days": round((now - oldest.started_at).total_seconds() / 86400, 3) if oldest else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real-hours", type=float, default=3.0)
    parser.add_argument("--week-hours", type=float, default=168.0)
    args = parser.parse_args()
    _setup_django()
    from django.contrib.auth import get_user_model

    from accounts.models import Role
    from accounts.services import user_create
    from recognition.monitors.models import Detection, Monitor, RetroactiveScan
    from recognition.services import track_ingest

    manifest = corpus.load_or_build(OUT / "corpus.json")
    new, catalog, items = _program(manifest, args.real_hours)
    print(f"playlist: {len(items)} items, {len(catalog)} catalog tracks, {NEW_TRACKS} new", flush=True)
    cache = OUT / "retroactive" / f"listened-{args.real_hours:g}h.json"  # the listening, kept between runs
    if cache.exists():
        kept = json.loads(cache.read_text())
        minutes = {int(k): base64.b64decode(v) for k, v in kept["minutes"].items()}
        timed, listen = kept["timed"], kept["listen"]
    else:
        minutes, timed, listen = _listen(catalog, items)
        cache.parent.mkdir(parents=True, exist_ok=True)
        packed = {k: base64.b64encode(v).decode() for k, v in minutes.items()}
        cache.write_text(json.dumps({"minutes": packed, "timed": timed, "listen": listen}))
    blobs = [minutes[k] for k in sorted(minutes)]
    stream_s = listen["stream_s"]
    print(f"listened to {stream_s / 3600:.2f} h, {listen['listen_cpu_s']:.0f} s CPU; {len(blobs)} minutes", flush=True)

    owner = get_user_model().objects.filter(username="retro_bench").first()
    owner = owner or user_create(username="retro_bench", password=None, role=Role.RIGHTS_HOLDER)
    Monitor.objects.filter(owner=owner).delete()
    ids = {}
    for entry in catalog + new:  # the whole catalog, for the bound's count; the new ones last
        outcome = track_ingest(path=entry["path"], owner=owner, store_audio=False)
        ids[entry["path"]] = outcome.track.pk
    RetroactiveScan.objects.all().delete()
    new_ids = [ids[e["path"]] for e in new]

    base = datetime(2026, 1, 5, tzinfo=UTC)
    real = _store(owner, "Real hours", blobs, base)
    real_scan = _scan(new_ids, real)
    accuracy = _accuracy(list(Detection.objects.filter(pk__in=real_scan["detections"])), timed, ids, base)
    print(f"real hours: {real_scan} {accuracy}", flush=True)

    later_from = int(timed[4 * NEW_TRACKS - 1]["off_s"] // 60) + 1  # the minutes after the new tracks' plays
    week_minutes = int(args.week_hours * 60)
    tiled = blobs[:later_from] + [
        blobs[later_from + k % (len(blobs) - later_from)] for k in range(week_minutes - later_from)
    ]
    week = _store(owner, "A week", tiled, base + timedelta(days=30))
    week_scan = _scan(new_ids, week)
    week_rows = list(Detection.objects.filter(pk__in=week_scan["detections"]))
    week_accuracy = _accuracy(week_rows, timed, ids, base + timedelta(days=30))
    print(f"week: {week_scan['wall_s']} s wall, {week_scan['cpu_s']} s CPU, {len(week_rows)} rows", flush=True)
    prune = _prune(owner, blobs)
    Monitor.objects.filter(owner=owner).delete()

    retained = sum(map(len, blobs))
    hashes_s = _hashes_per_second(blobs, stream_s)
    result = {
        "when": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "real_hours": round(stream_s / 3600, 2),
        "new_tracks": NEW_TRACKS,
        "catalog_tracks": len(catalog) + NEW_TRACKS,
        "items": len(items),
        "listen_cpu_s": round(listen["listen_cpu_s"], 1),
        "bytes_per_stream_hour": round(retained / stream_s * 3600),
        "peaks_per_second": round(sum(len(b) for b in blobs) / 4 / stream_s, 1),
        "hashes_per_second": round(hashes_s, 1),
        "hash_bytes_per_stream_hour": round(hashes_s * 6 * 3600),  # int32 hash + uint16 offset
        "real": {**real_scan, "detections": len(real_scan["detections"]), **accuracy},
        "week": {
            **week_scan,
            "hours": round(len(tiled) / 60, 1),
            "detections": len(week_rows),
            "found": week_accuracy["found"],
            "plays": week_accuracy["plays"],
            "false": len(week_accuracy["false"]),
            "real_time_x": round(len(tiled) * 60 / week_scan["wall_s"]),
            "bytes": sum(map(len, tiled)),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        },
        "prune": prune,
        "machine": f"{os.uname().machine}, {os.cpu_count()} cores",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retroactive.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
