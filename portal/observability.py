"""Health, readiness and Prometheus metrics: what an operator and a load balancer ask the portal.

Metrics live in each process (prometheus-client's default registry): a scrape of a web pod shows
its own recognitions and sockets; what the workers do is read from the database at scrape time
(queue depth, jobs, hash table size), so it is right whichever pod is scraped.
"""

from __future__ import annotations

import contextlib
import time

from django.core.cache import cache
from django.db import connection
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "INGEST_SECONDS",
    "INGEST_TRACKS",
    "RECOGNITIONS",
    "RECOGNITION_LATENCY",
    "WEBSOCKET_SESSIONS",
    "WORKER_HEARTBEAT_KEY",
    "health",
    "readiness",
    "render_metrics",
    "worker_heartbeat",
]

RECOGNITION_LATENCY = Histogram(
    "earshot_recognition_latency_seconds", "Time to answer a recognition, by source.", ["source"],
    buckets=(0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 12, 30, 60),
)  # fmt: skip
RECOGNITIONS = Counter("earshot_recognitions_total", "Recognitions by source and outcome.", ["source", "outcome"])
INGEST_TRACKS = Counter("earshot_ingest_tracks_total", "Reference files ingested, by status.", ["status"])
INGEST_SECONDS = Counter("earshot_ingest_audio_seconds_total", "Seconds of reference audio fingerprinted.")
WEBSOCKET_SESSIONS = Gauge("earshot_websocket_sessions_open", "Open listening sockets in this process.")
QUEUE_DEPTH = Gauge("earshot_queue_depth", "Background tasks waiting to run.")
HASH_ROWS = Gauge("earshot_hash_table_rows", "Triplet rows in the hash index (planner estimate).")
JOBS = Gauge("earshot_upload_jobs", "Upload and API jobs by status.", ["status"])

# Every label value exists from the start, so dashboards and alerts see zeros, not gaps.
for _source in ("microphone", "upload", "api"):
    RECOGNITION_LATENCY.labels(_source)
    for _outcome in ("match", "no_match", "error"):
        RECOGNITIONS.labels(_source, _outcome)
for _status in ("added", "duplicate", "failed"):
    INGEST_TRACKS.labels(_status)

WORKER_HEARTBEAT_KEY = "earshot:worker:heartbeat"
WORKER_STALE_S = 60.0


def worker_heartbeat() -> None:
    """Record that a background worker is alive (called by db_worker every few seconds)."""
    cache.set(WORKER_HEARTBEAT_KEY, time.time(), timeout=int(WORKER_STALE_S * 10))


def health() -> dict:
    """The process answers: nothing else is checked, so a dependency outage does not restart pods."""
    return {"status": "ok"}


def readiness() -> tuple[bool, dict]:
    """Ready when the database and the cache answer. A stale worker is reported, not fatal: the web
    tier still serves clips, and taking every web pod out for a dead worker would stop the site."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # any failure means not ready
        checks["database"] = f"error: {type(error).__name__}"
    try:
        cache.set("earshot:readyz", 1, timeout=10)
        checks["cache"] = "ok" if cache.get("earshot:readyz") == 1 else "error: no round trip"
    except Exception as error:
        checks["cache"] = f"error: {type(error).__name__}"
    beat = None
    with contextlib.suppress(Exception):  # an unreachable cache already fails readiness above
        beat = cache.get(WORKER_HEARTBEAT_KEY)
    checks["worker"] = "ok" if beat and time.time() - beat < WORKER_STALE_S else "stale"
    ready = checks["database"] == "ok" and checks["cache"] == "ok"
    status = "ok" if ready and checks["worker"] == "ok" else ("degraded" if ready else "unavailable")
    return ready, {"status": status, "checks": checks}


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text format, with the database-derived gauges refreshed."""
    from django_tasks_db.models import DBTaskResult

    from recognition.models import Recognition

    try:
        QUEUE_DEPTH.set(DBTaskResult.objects.ready().count())
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'recognition_fingerprint'::regclass")
            HASH_ROWS.set(max(0, cursor.fetchone()[0]))
        for status in Recognition.Status.values:
            JOBS.labels(status).set(0)
        for status, count in _job_counts(Recognition):
            JOBS.labels(status).set(count)
    except Exception:  # noqa: S110 - metrics must render even with the database down
        pass
    return generate_latest(), CONTENT_TYPE_LATEST


def _job_counts(model):
    from django.db.models import Count

    rows = model.objects.exclude(source=model.Source.MICROPHONE).values("status").annotate(n=Count("pk"))
    return [(row["status"], row["n"]) for row in rows]
