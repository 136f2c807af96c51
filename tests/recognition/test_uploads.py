"""Uploads: a video with three catalog songs, storage, permissions, hostile files, killed workers."""

import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from catalog.demo import synth_song
from recognition.engine.identify import long_inputs
from recognition.models import Recognition
from recognition.services import track_ingest, uploads
from recognition.services.uploads import upload_process, uploads_requeue_stale
from tests import hostile, media
from tests.conftest import subprocess_environment

RATE = media.FILE_RATE
NEW = reverse("recognition:upload_new")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def creator(make_user):
    return make_user(Role.CREATOR, username="creator_a")


@pytest.fixture
def three_songs(rights_holder, tmp_path):
    tracks = {}
    for seed, title in ((61, "First Light"), (62, "Second Wind"), (63, "Third Time")):
        path = media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, 60))
        tracks[seed] = track_ingest(path=path, owner=rights_holder, title=title, store_audio=False).track
    return tracks


def _noisy(samples, snr_db=15, seed=0):
    noise = np.random.default_rng(seed).standard_normal(samples.size).astype(np.float32)
    noise *= np.sqrt(np.mean(samples**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return samples + noise


@pytest.fixture
def three_song_video(tmp_path):
    """Test pattern + a soundtrack: three catalog excerpts apart, silence and unrelated music between."""
    parts = [
        synth_song(61, 60)[RATE * 10 : RATE * 30],  # 0-20 s: First Light from 0:10
        np.zeros(RATE * 4, np.float32),  # 20-24 s
        synth_song(62, 60)[RATE * 5 : RATE * 20],  # 24-39 s: Second Wind from 0:05
        synth_song(9001, 8) * 0.8,  # 39-47 s: music that is not in the catalog
        synth_song(63, 60)[RATE * 30 : RATE * 50],  # 47-67 s: Third Time from 0:30
    ]
    soundtrack = _noisy(np.concatenate(parts)) * 0.8
    return media.video_with_audio(soundtrack, tmp_path / "vlog.mp4")


def _post(client, path: Path, **extra):
    return client.post(
        NEW, {"file": SimpleUploadedFile(path.name, path.read_bytes()), **extra}, HTTP_ACCEPT="application/json"
    )


@pytest.mark.django_db
def test_video_lists_the_three_songs_in_order_with_time_ranges(
    client, creator, three_songs, three_song_video, django_capture_on_commit_callbacks
):
    client.force_login(creator)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, three_song_video)
    assert response.status_code == 202, response.content
    job = Recognition.objects.get(pk=response.json()["id"])
    assert job.status == Recognition.Status.DONE, job.error_message
    found = [(s["track_id"], s["start_s"], s["end_s"], s["offset_s"]) for s in job.segments]
    expected = [(three_songs[61].pk, 0, 20, 10), (three_songs[62].pk, 24, 39, 5), (three_songs[63].pk, 47, 67, 30)]
    assert [f[0] for f in found] == [e[0] for e in expected], job.segments
    for (_, start, end, offset), (_, want_start, want_end, want_offset) in zip(found, expected, strict=True):
        assert abs(start - want_start) <= 1 and abs(end - want_end) <= 1 and abs(offset - want_offset) <= 1
    assert not job.media and not any(Path(settings.MEDIA_ROOT).rglob("*.mp4"))  # deleted after processing
    page = client.get(reverse("recognition:upload", args=[job.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('class="timeline-bar"') == 3 and "First Light" in text and "Third Time" in text


@pytest.mark.django_db
def test_upload_without_catalog_music_says_so(
    client, creator, three_songs, tmp_path, django_capture_on_commit_callbacks
):
    other = media.write_wav(tmp_path / "other.wav", synth_song(9100, 40))
    client.force_login(creator)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, other, keep_media="on")
    job = Recognition.objects.get(pk=response.json()["id"])
    assert job.status == "done" and job.segments == [] and job.track_id is None
    assert job.media  # kept on request
    assert (
        "No music from the catalog found" in client.get(reverse("recognition:upload", args=[job.pk])).content.decode()
    )


@pytest.mark.django_db
def test_progress_covers_the_retries_and_says_100_only_once_saved(
    creator, three_songs, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """An edit 2 % fast finds nothing as heard and is found by retrying its windows: the job's
    progress keeps rising (and its heartbeat keeps coming) while they run, stays under 100 % until
    the results are saved, and is 100 % once they are."""
    edit = np.concatenate([np.zeros(RATE * 3, np.float32), media.played_faster(synth_song(62, 60)[RATE * 2 :], 1.02)])
    path = media.write_wav(tmp_path / "edit.wav", edit)
    heard: list[tuple[float, str]] = []
    real = uploads._heartbeat

    def heartbeat(pk, done):
        real(pk, done)
        job = Recognition.objects.get(pk=pk)
        heard.append((job.progress, job.status))

    monkeypatch.setattr(uploads, "_heartbeat", heartbeat)
    with django_capture_on_commit_callbacks(execute=True):
        job = uploads.upload_create(user=creator, upload=SimpleUploadedFile("edit.wav", path.read_bytes()))
    job.refresh_from_db()
    assert job.status == "done" and [s["track_id"] for s in job.segments] == [three_songs[62].pk]
    assert job.segments[0]["speed"] == pytest.approx(1.02, abs=0.005) and job.progress == 1.0
    progress = [p for p, _ in heard]
    assert progress == sorted(progress) and all(status == "running" for _, status in heard)
    assert max(progress) == uploads.PROGRESS_BEFORE_SAVED  # the engine's end, before the results are saved
    retries = [p for p in progress if long_inputs.FIRST_PASS_SHARE < p < uploads.PROGRESS_BEFORE_SAVED]
    assert retries  # the windows' retries report as they go


@pytest.mark.django_db
def test_an_upload_is_stored_under_a_random_key_and_keeps_its_name_in_a_column(client, creator, tmp_path):
    path = media.write_wav(tmp_path / "Jane Doe holiday vlog.WAV", synth_song(9101, 8))
    client.force_login(creator)
    response = _post(client, path, keep_media="on")  # queued: the on-commit task never runs here
    assert response.status_code == 202, response.content
    job = Recognition.objects.get(pk=response.json()["id"])
    assert re.fullmatch(r"uploads/\d{4}/\d{2}/[0-9a-f]{32}\.wav", job.media.name), job.media.name
    assert not {"jane", "doe", "holiday", "vlog"} & set(re.split(r"[^a-z]+", job.media.name.lower()))
    assert job.original_name == "Jane Doe holiday vlog.WAV"
    assert job.media.storage.exists(job.media.name)


@pytest.mark.django_db
def test_who_may_upload_and_see_uploads(
    client, make_user, creator, staff, tmp_path, django_capture_on_commit_callbacks
):
    clip = media.write_wav(tmp_path / "c.wav", synth_song(64, 6))
    client.force_login(make_user(Role.LISTENER))
    assert client.get(NEW).status_code == 403
    assert _post(client, clip).status_code == 403
    client.force_login(creator)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = _post(client, clip).json()["id"]
    detail = reverse("recognition:upload", args=[job_id])
    status = reverse("recognition:upload_status", args=[job_id])
    assert client.get(detail).status_code == 200
    client.force_login(make_user(Role.CREATOR, username="creator_b"))
    assert client.get(detail).status_code == 404 and client.get(status).status_code == 404
    assert job_id not in client.get(reverse("recognition:uploads")).content.decode()
    client.force_login(staff)
    assert client.get(detail).status_code == 200
    client.logout()
    assert client.get(detail).status_code == 302


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    return {entry.name: (entry, hostile.build(entry, folder)) for entry in hostile.CORPUS}


@pytest.mark.django_db
@pytest.mark.parametrize("entry", hostile.CORPUS, ids=lambda e: e.name)
def test_hostile_uploads_get_a_clear_answer_and_nothing_partial_is_stored(
    client, creator, hostile_files, entry, django_capture_on_commit_callbacks
):
    _, path = hostile_files[entry.name]
    client.force_login(creator)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, path)
    assert time.monotonic() - started < 15
    assert response.status_code == entry.status, response.content
    job = Recognition.objects.get(pk=response.json()["id"])
    if entry.status != 202:
        assert response.json()["error"]["code"] == entry.code and response.json()["error"]["message"]
        assert job.status == "failed" and job.error_code == entry.code
    elif entry.job_fails:
        assert job.status == "failed" and job.error_code == entry.code and job.error_message
    else:
        assert job.status == "done", job.error_message
    assert job.segments == [] or job.status == "done"
    assert not any(p.is_file() for p in Path(settings.MEDIA_ROOT).rglob("*"))  # media never kept


@pytest.mark.django_db
def test_two_files_in_one_request_are_refused(client, creator, tmp_path):
    a = media.write_wav(tmp_path / "a.wav", synth_song(65, 3))
    client.force_login(creator)
    response = client.post(
        NEW,
        {"file": [SimpleUploadedFile("a.wav", a.read_bytes()), SimpleUploadedFile("b.wav", a.read_bytes())]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "too_many_files"
    assert not Recognition.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_job_leaves_it_retryable_without_partial_results(
    client, creator, three_songs, three_song_video, settings
):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # queue, do not run
    client.force_login(creator)
    job_id = _post(client, three_song_video).json()["id"]
    assert Recognition.objects.get(pk=job_id).status == "pending"
    # A worker that dies after its first minute of audio (SIGKILL: no cleanup at all).
    script = f"""
import os, signal, django
django.setup()
from recognition.services import uploads
real = uploads._heartbeat
def heartbeat_then_die(pk, done):
    real(pk, done)
    os.kill(os.getpid(), signal.SIGKILL)
uploads._heartbeat = heartbeat_then_die
uploads.upload_process({job_id!r})
"""
    died = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=subprocess_environment(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    job = Recognition.objects.get(pk=job_id)
    assert job.status == "running" and job.segments == [] and job.track_id is None and job.attempts == 1
    assert uploads_requeue_stale() == 0  # its heartbeat is still fresh
    Recognition.objects.filter(pk=job_id).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    assert uploads_requeue_stale() == 1
    job.refresh_from_db()
    assert job.status == "done" and job.attempts == 2 and len(job.segments) == 3


@pytest.mark.django_db
def test_a_job_whose_media_is_gone_fails_with_a_clear_reason(client, creator, three_song_video, settings):
    """A job queued again after its file was discarded (or deleted from storage) fails and says
    why, instead of reading whatever an empty or stale name points at."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}  # queue, do not run
    client.force_login(creator)
    job_ids = [_post(client, three_song_video).json()["id"] for _ in range(2)]
    Recognition.objects.filter(pk=job_ids[0]).update(media="")
    Recognition.objects.get(pk=job_ids[1]).media.delete(save=False)
    for job_id in job_ids:
        assert upload_process(job_id) == "failed"
        job = Recognition.objects.get(pk=job_id)
        assert job.status == "failed" and job.error_code == "media_missing" and job.segments == []


@pytest.fixture
def s3_server(tmp_path):
    """A real S3-compatible server (moto's server mode) on a free loopback port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.mark.django_db
def test_uploads_are_stored_in_s3_read_by_the_worker_and_deleted(
    client, creator, three_songs, tmp_path, settings, s3_server, django_capture_on_commit_callbacks
):
    import boto3

    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_server, **credentials)
    s3.create_bucket(Bucket="earshot-uploads")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "earshot-uploads",
                "endpoint_url": s3_server,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    clip = media.encode(synth_song(62, 60)[RATE * 12 : RATE * 24], tmp_path / "clip.mp3", RATE)
    client.force_login(creator)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _post(client, clip)
    assert response.status_code == 202
    job = Recognition.objects.get(pk=response.json()["id"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="earshot-uploads").get("Contents", [])]
    assert keys == [job.media.name] and job.status == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:  # the worker runs: it reads the file back from S3
            callback()
    job.refresh_from_db()
    assert job.status == "done" and job.track_id == three_songs[62].pk
    assert abs(job.offset_s - 12) < 1
    assert s3.list_objects_v2(Bucket="earshot-uploads").get("KeyCount") == 0  # deleted after processing
    assert not any(Path(settings.MEDIA_ROOT).rglob("*.mp3"))  # never on local disk
