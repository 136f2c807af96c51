"""The play ledger: each finished recognition's catalog tracks become plays in the same transaction."""

from __future__ import annotations

import importlib
from dataclasses import replace

import numpy as np
import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from catalog.demo import synth_song
from recognition.engine import Match
from recognition.models import Play, Recognition
from recognition.services import live_recognition_save, track_ingest
from recognition.services.plays import plays_record
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
    assert (play.speed, play.pitch_semitones) == (None, None)  # as heard: no change
    unknown = media.write_wav(tmp_path / "unknown.wav", synth_song(8282, 8))
    job, _ = recognition_submit(user=partner, upload=SimpleUploadedFile("u.wav", unknown.read_bytes()))
    assert job.track_id is None and not Play.objects.filter(recognition=job).exists()


@pytest.mark.django_db
def test_a_sped_up_api_clip_records_its_change_on_its_play(songs, make_user, tmp_path):
    """A clip played 10 % fast (tape-style, pitch up 1.65 semitones) is found by the retries: its
    play carries the change the recognition reports."""
    partner = make_user(Role.PARTNER)
    fast = media.write_wav(tmp_path / "fast.wav", media.played_faster(synth_song(81, 60)[RATE * 20 : RATE * 31], 1.1))
    job, finished = recognition_submit(user=partner, upload=SimpleUploadedFile("fast.wav", fast.read_bytes()))
    assert finished and job.track_id == songs[81].pk and job.speed == pytest.approx(1.1, abs=0.005)
    play = Play.objects.get(recognition=job)
    assert (play.speed, play.pitch_semitones) == (job.speed, job.pitch_semitones)
    assert play.pitch_semitones == pytest.approx(12 * np.log2(1.1), abs=0.05)


@pytest.mark.django_db
def test_an_upload_segments_change_goes_to_its_play_alone(songs, make_user):
    creator = make_user(Role.CREATOR)
    upload = Recognition.objects.create(user=creator, source="upload", status="done", segments=[
        {"track_id": songs[81].pk, "start_s": 0.0, "end_s": 30.0, "offset_s": 1.0, "speed": 1.05,
         "pitch_semitones": 0.84},
        {"track_id": songs[82].pk, "start_s": 40.0, "end_s": 52.5, "offset_s": 9.0, "speed": None,
         "pitch_semitones": None},
        {"track_id": songs[82].pk, "start_s": 60.0, "end_s": 70.0, "offset_s": 0.0},  # from before changes
    ])  # fmt: skip
    plays_record(upload, new=True)
    found = [(p.speed, p.pitch_semitones) for p in Play.objects.filter(recognition=upload).order_by("start_s")]
    assert found == [(1.05, 0.84), (None, None), (None, None)]


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
    assert (play.speed, play.pitch_semitones) == (None, None)
    recognition.delete()
    assert not Play.objects.filter(pk=play.pk).exists()
    slow = live_recognition_save(user=listener, match=replace(match, speed=0.95), heard_s=4.2, latency_ms=900)
    assert Play.objects.values_list("speed", "pitch_semitones").get(recognition=slow) == (0.95, None)


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


@pytest.mark.django_db
def test_the_backfill_gives_past_plays_the_change_their_recognition_reported(songs, make_user):
    user = make_user(Role.CREATOR)
    upload = Recognition.objects.create(user=user, source="upload", status="done", segments=[
        {"track_id": songs[81].pk, "start_s": 0.0, "end_s": 30.0, "offset_s": 1.0, "speed": 0.9,
         "pitch_semitones": None},
        {"track_id": songs[82].pk, "start_s": 40.0, "end_s": 52.5, "offset_s": 9.0, "speed": None,
         "pitch_semitones": None},
    ])  # fmt: skip
    listen = Recognition.objects.create(
        user=user, source="microphone", status="done", track=songs[82], heard_s=3.5, pitch_semitones=-2.0
    )
    as_heard = Recognition.objects.create(user=user, source="microphone", status="done", track=songs[81], heard_s=4)
    for recognition in (upload, listen, as_heard):
        plays_record(recognition, new=True)
    Play.objects.update(speed=None, pitch_semitones=None)  # as the plays written before 0016 are
    migration = importlib.import_module("recognition.migrations.0016_play_speed_and_pitch")
    migration.backfill_changes(apps, None)
    found = {(p.recognition_id, p.start_s): (p.speed, p.pitch_semitones) for p in Play.objects.all()}
    assert found == {
        (upload.pk, 0.0): (0.9, None),
        (upload.pk, 40.0): (None, None),
        (listen.pk, 0.0): (None, -2.0),
        (as_heard.pk, 0.0): (None, None),
    }
