"""Retention: minutes and evidence past a monitor's retention_days go; the rest stays (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from recognition.monitors import retention, services
from recognition.monitors.models import Detection, RetainedMinute
from tests.factories import TrackFactory

pytestmark = pytest.mark.django_db


def _minutes(monitor, days_ago: float, count: int) -> None:
    start = timezone.now() - timedelta(days=days_ago)
    RetainedMinute.objects.bulk_create(
        RetainedMinute(monitor=monitor, started_at=start + timedelta(minutes=k), stream_minute=k, peaks=b"\0" * 400)
        for k in range(count)
    )


def test_pruning_keeps_each_monitors_retention_and_storage_stays_bounded(device_monitor, detect, capsys):
    monitor, _ = device_monitor
    monitor.retention_days = 2
    monitor.save()
    _minutes(monitor, 3.0, 30)  # past the 2 days
    _minutes(monitor, 1.0, 20)
    old = detect(monitor, TrackFactory(), minutes_ago=3 * 24 * 60)
    new = detect(monitor, TrackFactory(), minutes_ago=60)
    for detection in (old, new):
        detection.evidence.save(f"t-{detection.pk}.ogg", ContentFile(b"OggS"), save=True)
    old_file = Detection.objects.get(pk=old.pk).evidence
    assert old_file.storage.exists(old_file.name)
    before = retention.retained_bytes(monitor_id=monitor.pk)
    call_command("monitors_prune")
    assert "Deleted 30 retained minutes (12000 bytes) and 1 evidence files" in capsys.readouterr().out
    assert retention.retained_bytes(monitor_id=monitor.pk) == before - 30 * 400 == 20 * 400
    assert not old_file.storage.exists(old_file.name)
    assert Detection.objects.get(pk=old.pk).evidence == "" and Detection.objects.get(pk=new.pk).evidence
    # Another day of the same: what is kept stays at the retention's worth.
    _minutes(monitor, 2.5, 30)
    assert retention.retention_prune() == (30, 0)
    assert RetainedMinute.objects.filter(monitor=monitor).count() == 20


def test_deleting_a_monitor_deletes_its_minutes(device_monitor):
    monitor, _ = device_monitor
    _minutes(monitor, 0.5, 5)
    services.monitor_delete(monitor=monitor)
    assert not RetainedMinute.objects.exists()
