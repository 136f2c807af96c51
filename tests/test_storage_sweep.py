"""`manage.py storage_sweep`: orphans older than the grace period go, referenced and young objects stay."""

import os
import time
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from accounts.models import Role
from catalog.models import Track
from recognition.models import Recognition
from tests.factories import TrackFactory

HOUR_S = 3600


def _stored(name: str, *, age_s: float) -> str:
    key = default_storage.save(name, ContentFile(b"audio bytes"))
    then = time.time() - age_s
    os.utime(default_storage.path(key), (then, then))
    return key


@pytest.mark.django_db
def test_the_sweep_deletes_old_orphans_and_keeps_referenced_and_young_objects(make_user, settings):
    settings.EARSHOT_STORAGE_SWEEP_GRACE_S = HOUR_S
    track = TrackFactory()
    track.audio.save("ref.wav", ContentFile(b"reference"), save=True)
    os.utime(track.audio.path, (time.time() - 3 * HOUR_S,) * 2)  # old, but its row names it
    job = Recognition.objects.create(user=make_user(Role.CREATOR), source="upload", original_name="mine.mp4")
    job.media.save("mine.mp4", ContentFile(b"upload"), save=True)
    os.utime(job.media.path, (time.time() - 3 * HOUR_S,) * 2)
    old_track_orphan = _stored("tracks/2026/11/0123456789abcdef0123456789abcdef.wav", age_s=2 * HOUR_S)
    old_upload_orphan = _stored("uploads/2026/12/fedcba9876543210fedcba9876543210.mp4", age_s=2 * HOUR_S)
    old_evidence_orphan = _stored("monitors/evidence/2026/12/00000000000000000000000000000000.ogg", age_s=5 * HOUR_S)
    being_written = _stored("uploads/2026/12/11111111111111111111111111111111.mp4", age_s=60)
    elsewhere = _stored("backups/keep-me.dump", age_s=10 * HOUR_S)  # not under a media prefix

    out = StringIO()
    call_command("storage_sweep", "--dry-run", stdout=out)
    assert "3 would delete" in out.getvalue() and default_storage.exists(old_track_orphan)

    out = StringIO()
    call_command("storage_sweep", stdout=out)
    report = out.getvalue()
    assert "storage sweep: 6 listed, 2 referenced, 1 younger than 3600 s, 3 deleted" in report, report
    for gone in (old_track_orphan, old_upload_orphan, old_evidence_orphan):
        assert f"deleted {gone}" in report and not default_storage.exists(gone)
    for kept in (track.audio.name, job.media.name, being_written, elsewhere):
        assert default_storage.exists(kept), kept
    assert Track.objects.get(pk=track.pk).audio.name == track.audio.name

    settings.EARSHOT_STORAGE_SWEEP_GRACE_S = 30  # the young upload is now past the (shorter) grace
    out = StringIO()
    call_command("storage_sweep", stdout=out)
    assert "3 listed, 2 referenced, 0 younger than 30 s, 1 deleted" in out.getvalue()
    assert not default_storage.exists(being_written)
