"""G26 for uploads: per-user job and storage quotas, retention, deletion, fair scheduling, requeue."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from accounts.models import Role
from accounts.services import api_key_create
from catalog.demo import synth_song
from recognition.engine import audio
from recognition.models import Recognition
from recognition.services.uploads import upload_create, uploads_requeue_stale
from tests import media
from tests.conftest import subprocess_environment

NEW = reverse("recognition:upload_new")
ROOT = Path(__file__).resolve().parents[2]
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def clip(tmp_path):
    return media.write_wav(tmp_path / "clip.wav", synth_song(71, 4))


@pytest.fixture
def quotas(settings):
    settings.EARSHOT_UPLOAD_QUOTAS = {"jobs_in_flight": 2, "jobs_per_day": 50, "kept_bytes": 10**9, "kept_days": 30}
    return settings.EARSHOT_UPLOAD_QUOTAS


def _post(client, path: Path, **extra):
    return client.post(
        NEW, {"file": SimpleUploadedFile(path.name, path.read_bytes()), **extra}, HTTP_ACCEPT="application/json"
    )


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a request queues on commit (the job's task, a deletion's file removal) at once."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_uploads_of_one_user_queue_at_most_the_in_flight_quota(make_user, clip, quotas, settings):
    settings.TASKS = DUMMY_TASKS  # queued jobs stay waiting
    creator = make_user(Role.CREATOR, username="busy")

    def post(_):
        client = Client()
        client.force_login(creator)
        try:
            return _post(client, clip)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [202, 202] + [429] * 6, codes
    refused = [r for r in responses if r.status_code == 429]
    assert all(r.json()["error"]["code"] == "too_many_jobs" and r["Retry-After"] for r in refused)
    assert Recognition.objects.filter(user=creator).count() == 2  # a refusal stores nothing
    # Another user is not affected by this one's quota.
    other = Client()
    other.force_login(make_user(Role.CREATOR, username="calm"))
    assert _post(other, clip).status_code == 202


@pytest.mark.django_db
def test_daily_upload_quota_counts_finished_and_refused_uploads(
    client, make_user, clip, quotas, tmp_path, run_on_commit
):
    quotas["jobs_per_day"] = 3
    client.force_login(make_user(Role.CREATOR))
    not_media = tmp_path / "notes.mp3"
    not_media.write_text("not audio at all")
    assert _post(client, not_media).status_code == 415  # probed, so it counts
    assert [run_on_commit(_post, client, clip).status_code for _ in range(2)] == [202, 202]  # done at once
    refused = _post(client, clip)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "daily_quota"
    page = client.post(NEW, {"file": SimpleUploadedFile("clip.wav", clip.read_bytes())})
    assert page.status_code == 429 and "in the last 24 hours" in page.content.decode()
    Recognition.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert run_on_commit(_post, client, clip).status_code == 202


@pytest.mark.django_db
def test_storage_quota_for_kept_media_and_retention(client, make_user, clip, quotas, run_on_commit):
    quotas["kept_bytes"] = clip.stat().st_size * 3 // 2
    client.force_login(make_user(Role.CREATOR))
    first = run_on_commit(_post, client, clip, keep_media="on")
    assert first.status_code == 202
    refused = _post(client, clip, keep_media="on")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "storage_quota"
    assert run_on_commit(_post, client, clip).status_code == 202  # not kept: no storage used
    kept = Recognition.objects.get(pk=first.json()["id"])
    stored = Path(kept.media.path)
    assert stored.is_file()
    call_command("requeue_uploads")  # within the retention: kept
    assert stored.is_file()
    Recognition.objects.filter(pk=kept.pk).update(created_at=timezone.now() - timedelta(days=31))
    call_command("requeue_uploads")
    kept.refresh_from_db()
    assert not stored.exists() and not kept.media and kept.status == "done"  # the results stay
    assert _post(client, clip, keep_media="on").status_code == 202  # the quota is free again


@pytest.mark.django_db
def test_users_delete_their_uploads_and_kept_media_on_the_page_and_in_the_api(
    client, api, make_user, clip, quotas, settings, run_on_commit
):
    owner = make_user(Role.CREATOR, username="owner")
    client.force_login(owner)
    job = Recognition.objects.get(pk=_post(client, clip, keep_media="on").json()["id"])
    stored = Path(job.media.path)
    delete = reverse("recognition:upload_delete", args=[job.pk])
    assert 'data-testid="delete-upload"' in client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    client.force_login(make_user(Role.CREATOR, username="stranger"))
    assert client.post(delete).status_code == 404
    client.force_login(owner)
    assert run_on_commit(client.post, delete).status_code == 302
    assert not Recognition.objects.filter(pk=job.pk).exists() and not stored.exists()
    # The API: a long recording (a job, its media kept) deleted with DELETE.
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}
    partner = make_user(Role.PARTNER, username="partner")
    key = api_key_create(user=partner, name="k")[1]
    long = media.write_wav(Path(settings.MEDIA_ROOT).parent / "long.wav", synth_song(72, 40))
    settings.TASKS = DUMMY_TASKS
    created = api.as_key(key).post("/api/v1/recognitions", {"file": SimpleUploadedFile("long.wav", long.read_bytes())})
    assert created.status_code == 202, created.content
    api_job = Recognition.objects.get(pk=created.json()["id"])
    assert api_job.media and Path(api_job.media.path).is_file()
    other_key = api_key_create(user=make_user(Role.PARTNER, username="other"), name="k")[1]
    assert api.as_key(other_key).delete(f"/api/v1/recognitions/{api_job.pk}").status_code == 404
    assert run_on_commit(api.as_key(key).delete, f"/api/v1/recognitions/{api_job.pk}").status_code == 204
    assert not Recognition.objects.filter(pk=api_job.pk).exists() and not Path(api_job.media.path).exists()


@pytest.mark.django_db(transaction=True)
def test_one_users_fifty_queued_jobs_do_not_delay_another_users_first(make_user, clip, settings):
    """The real worker (`db_worker`) takes B's only job second, not after A's fifty."""
    settings.TASKS = DATABASE_TASKS
    settings.EARSHOT_UPLOAD_QUOTAS = {"jobs_in_flight": 60, "jobs_per_day": 60, "kept_bytes": 10**9, "kept_days": 30}
    info = audio.probe_usable(clip, max_seconds=60)
    a, b = make_user(Role.CREATOR, username="a"), make_user(Role.CREATOR, username="b")
    for user in [a] * 50 + [b]:
        upload_create(user=user, upload=SimpleUploadedFile("clip.wav", clip.read_bytes()), checked=info)
    b_job = Recognition.objects.get(user=b)
    assert DBTaskResult.objects.filter(status="READY").count() == 51
    worker = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--max-tasks", "3", "--no-startup-delay"],
        cwd=ROOT,
        env={**subprocess_environment(), "DJANGO_TASKS_BACKEND": "django_tasks_db.DatabaseBackend"},
        capture_output=True,
        timeout=240,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr.decode()[-2000:]
    done = list(Recognition.objects.filter(status="done").order_by("finished_at").values_list("user_id", flat=True))
    assert len(done) == 3 and done[:2] == [a.pk, b.pk], done
    b_job.refresh_from_db()
    assert b_job.status == "done"


@pytest.mark.django_db
def test_requeue_never_duplicates_a_job_whose_task_still_waits(
    make_user, clip, settings, django_capture_on_commit_callbacks
):
    settings.TASKS = DATABASE_TASKS
    creator = make_user(Role.CREATOR)
    with django_capture_on_commit_callbacks(execute=True):
        job = upload_create(user=creator, upload=SimpleUploadedFile("clip.wav", clip.read_bytes()))
    assert DBTaskResult.objects.count() == 1
    # The queue is long: the job has waited 20 minutes, its task still unclaimed.
    old = timezone.now() - timedelta(minutes=20)
    Recognition.objects.filter(pk=job.pk).update(created_at=old, queued_at=old)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert uploads_requeue_stale() == 0
    assert DBTaskResult.objects.count() == 1
    # A task that is lost (deleted from the queue) is queued again, once.
    DBTaskResult.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        assert uploads_requeue_stale() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert uploads_requeue_stale() == 0
    assert DBTaskResult.objects.filter(status="READY").count() == 1
