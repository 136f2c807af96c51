"""The play ledger: each finished recognition's catalog tracks become plays in the same transaction."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from catalog.demo import synth_song
from recognition.engine import Match
from recognition.models import Play, Recognition
from recognition.services import live_recognition_save, track_ingest
from recognition.services.uploads import recognition_submit, upload_create
from tests import media

RATE = media.FILE_RATE


@pytest.fixture
def songs(rights_holder, tmp_path):
    tracks = {}
    for seed, title in ((81, "North Quay"), (82, "South Pier")):
        path = media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, 60))
        tracks[seed] = track_ingest(path=path, owner=rights_holder, title=title, store_audio=False).track
    return tracks


@pytest.mark.django_db
def test_an_upload_job_records_one_play_per_segment(songs, make_user, tmp_path, django_capture_on_commit_callbacks):
    recording = np.concatenate([
        synth_song(81, 60)[RATE * 5 : RATE * 25],  # 0-20 s: North Quay from 0:05
        np.zeros(RATE * 3, np.float32),
        synth_song(82, 60)[RATE * 10 : RATE * 25],  # 23-38 s: South Pier from 0:10
    ])  # fmt: skip
    path = media.write_wav(tmp_path / "set.wav", recording)
    creator = make_user(Role.CREATOR)
    with django_capture_on_commit_callbacks(execute=True):
        job = upload_create(user=creator, upload=SimpleUploadedFile("set.wav", path.read_bytes()))
    job.refresh_from_db()
    assert job.status == Recognition.Status.DONE, job.error_message
    plays = list(Play.objects.filter(recognition=job).order_by("start_s"))
    assert [p.track_id for p in plays] == [songs[81].pk, songs[82].pk]
    assert all(p.source == "upload" and p.heard_at == job.created_at for p in plays)
    assert abs(plays[0].played_s - 20) < 2.5 and abs(plays[1].played_s - 15) < 2.5
    assert abs(plays[1].start_s - 23) < 2 and abs(plays[1].offset_s - 10) < 2


@pytest.mark.django_db
def test_an_api_clip_records_its_play_and_unknown_audio_none(songs, make_user, tmp_path):
    partner = make_user(Role.PARTNER)
    clip = media.write_wav(tmp_path / "clip.wav", synth_song(82, 60)[RATE * 30 : RATE * 38])
    job, finished = recognition_submit(user=partner, upload=SimpleUploadedFile("clip.wav", clip.read_bytes()))
    assert finished and job.track_id == songs[82].pk
    play = Play.objects.get(recognition=job)
    assert (play.track_id, play.source) == (songs[82].pk, "api") and abs(play.played_s - 8) < 0.1
    unknown = media.write_wav(tmp_path / "unknown.wav", synth_song(8282, 8))
    job, _ = recognition_submit(user=partner, upload=SimpleUploadedFile("u.wav", unknown.read_bytes()))
    assert job.track_id is None and not Play.objects.filter(recognition=job).exists()


@pytest.mark.django_db
def test_a_listen_records_its_play_with_the_audio_heard(songs, make_user):
    match = Match(track_id=songs[81].pk, offset_frames=31.25 * 12, score=40, log10_p=-9, first_frame=0,
                  last_frame=100, candidates=3)  # fmt: skip
    listener = make_user(Role.LISTENER)
    recognition = live_recognition_save(user=listener, match=match, heard_s=4.2, latency_ms=900)
    play = Play.objects.get(recognition=recognition)
    assert (play.source, play.played_s, play.offset_s) == ("microphone", 4.2, 12.0)
    assert play.heard_at == recognition.created_at
    none = live_recognition_save(user=listener, match=None, heard_s=12, latency_ms=10)
    assert not Play.objects.filter(recognition=none).exists()
    recognition.delete()
    assert not Play.objects.filter(pk=play.pk).exists()


@pytest.mark.django_db
def test_the_backfill_turns_past_recognitions_into_plays(songs, make_user):
    user = make_user(Role.CREATOR)
    upload = Recognition.objects.create(user=user, source="upload", status="done", segments=[
        {"track_id": songs[81].pk, "start_s": 0.0, "end_s": 30.0, "offset_s": 1.0},
        {"track_id": songs[82].pk, "start_s": 40.0, "end_s": 52.5, "offset_s": 9.0},
        {"track_id": 987654, "start_s": 60.0, "end_s": 70.0, "offset_s": 0.0},  # a track deleted since
    ])  # fmt: skip
    listen = Recognition.objects.create(user=user, source="microphone", status="done", track=songs[82], heard_s=3.5)
    Recognition.objects.create(user=user, source="api", status="failed", track=songs[81])
    Recognition.objects.create(user=user, source="microphone", status="done")
    Play.objects.all().delete()
    migration = importlib.import_module("recognition.migrations.0010_plays")
    migration.backfill_plays(apps, None)
    found = sorted((p.recognition_id == upload.pk, p.track_id, p.played_s, p.source) for p in Play.objects.all())
    assert found == sorted([
        (True, songs[81].pk, 30.0, "upload"),
        (True, songs[82].pk, 12.5, "upload"),
        (False, songs[82].pk, 3.5, "microphone"),
    ])  # fmt: skip
    assert Play.objects.get(recognition=listen).heard_at == listen.created_at
