"""Health, readiness, metrics and request-id logs."""

import asyncio
import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from prometheus_client import REGISTRY

from accounts.models import Role
from portal import observability
from portal.asgi import application
from recognition.services.uploads import UploadRejected, recognition_submit


def test_healthz_needs_nothing(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_cache_and_worker(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "worker": "stale"}
    assert response.json()["status"] == "degraded"  # ready to serve, but no worker has beaten yet
    observability.worker_heartbeat()
    assert client.get("/readyz").json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "worker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_without_the_database(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise ConnectionError("database is down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"].startswith("error")


@pytest.mark.django_db
def test_metrics_expose_the_portals_gauges_and_counters(client):
    text = client.get("/metrics").content.decode()
    for name in (
        "earshot_recognition_latency_seconds_bucket",
        "earshot_recognitions_total",
        "earshot_ingest_tracks_total",
        "earshot_queue_depth",
        "earshot_websocket_sessions_open",
        "earshot_hash_table_rows",
        "earshot_upload_jobs",
    ):
        assert name in text, name


@pytest.mark.django_db
def test_a_clip_that_is_not_audio_counts_as_a_failed_recognition(make_user):
    def failed() -> float:
        return REGISTRY.get_sample_value("earshot_recognitions_total", {"source": "api", "outcome": "error"}) or 0.0

    before = failed()
    with pytest.raises(UploadRejected):
        recognition_submit(user=make_user(Role.PARTNER), upload=SimpleUploadedFile("clip.mp3", b"no audio here" * 64))
    assert failed() == before + 1


@pytest.mark.django_db  # a long-lived request thread may hold a connection from an earlier test
def test_ops_paths_answer_whatever_the_host(settings):
    """Prometheus scrapes by pod IP; only the ops paths accept such a Host."""

    async def get(path, host):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", host)],
            "client": ("10.1.2.3", 5000),
            "server": ("10.1.2.4", 8000),
        }
        sent = []
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        await application(scope, receive, send)
        return next(m["status"] for m in sent if m["type"] == "http.response.start")

    assert asyncio.run(get("/healthz", b"10.1.2.4:8000")) == 200
    assert asyncio.run(get("/", b"10.1.2.4:8000")) == 400


@pytest.mark.django_db
def test_each_request_gets_an_id_in_its_logs_and_response(client, caplog):
    caplog.set_level(logging.INFO, logger="earshot.request")
    response = client.get("/healthz", HTTP_X_REQUEST_ID="trace-0123456789")
    assert response["X-Request-ID"] == "trace-0123456789"
    record = next(r for r in caplog.records if r.name == "earshot.request")
    event = record.msg if isinstance(record.msg, dict) else json.loads(record.getMessage())
    assert event["path"] == "/healthz" and event["status"] == 200
    fresh = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert fresh["X-Request-ID"] != "bad id with spaces" and len(fresh["X-Request-ID"]) == 32
