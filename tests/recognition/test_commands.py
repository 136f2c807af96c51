"""`ingest` and `recognize` through call_command on real files encoded by ffmpeg at test time."""

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Track
from recognition import store
from tests import media

pytestmark = pytest.mark.django_db
RATE = media.FILE_RATE


def _ingest(*args, **options) -> list[dict]:
    out = StringIO()
    call_command("ingest", *map(str, args), json=True, stdout=out, stderr=StringIO(), **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _recognize(*args, **options) -> list[dict]:
    out = StringIO()
    call_command("recognize", *map(str, args), json=True, stdout=out, stderr=StringIO(), **options)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture
def formats(tmp_path):
    """The same kind of catalog material in WAV, MP3 and an MP4 video, in nested folders."""
    (tmp_path / "albums" / "a").mkdir(parents=True)
    return {
        "wav": media.write_wav(tmp_path / "albums" / "first.wav", media.synth_song(31, 30)),
        "mp3": media.encode(media.synth_song(32, 30), tmp_path / "albums" / "a" / "second.mp3", RATE, "-b:a", "128k"),
        "mp4": media.video_with_audio(media.synth_song(33, 30), tmp_path / "albums" / "a" / "third.mp4"),
    }


def test_ingest_a_folder_of_audio_and_video(formats, tmp_path):
    (tmp_path / "albums" / "cover.jpg").write_bytes(b"not media, and skipped when walking folders")
    results = _ingest(tmp_path / "albums")
    assert sorted(r["path"].rsplit("/", 1)[1] for r in results) == ["first.wav", "second.mp3", "third.mp4"]
    assert all(r["status"] == "added" and r["track_id"] for r in results), results
    for result in results:
        track = Track.objects.get(pk=result["track_id"])
        assert track.title == result["title"] == result["path"].rsplit("/", 1)[1].rsplit(".", 1)[0]
        assert store.count_track_rows(track.pk) == track.hash_count > 100
    again = _ingest(tmp_path / "albums")
    assert {r["status"] for r in again} == {"duplicate"}
    assert Track.objects.count() == 3


def test_ingest_reads_title_and_artist_from_tags(tmp_path):
    path = media.encode(
        media.synth_song(34, 20),
        tmp_path / "tagged.mp3",
        RATE,
        "-metadata",
        "title=Night Drive",
        "-metadata",
        "artist=The Examples",
        "-metadata",
        "album=Tests",
    )
    [result] = _ingest(path)
    track = Track.objects.get(pk=result["track_id"])
    assert track.title == "Night Drive" and track.artist_names == "The Examples" and track.album.title == "Tests"


def test_ingest_owner_and_artist_options(tmp_path, rights_holder):
    [result] = _ingest(media.write_wav(tmp_path / "x.wav", media.synth_song(35, 20)), owner="holder_a", artist="Solo")
    track = Track.objects.get(pk=result["track_id"])
    assert track.owner == rights_holder and track.artist_names == "Solo"
    with pytest.raises(CommandError, match="No user named"):
        _ingest(tmp_path / "x.wav", owner="nobody")


@pytest.fixture
def bad_files(tmp_path, settings):
    settings.EARSHOT_MAX_REFERENCE_SECONDS = 60
    good_mp3 = media.encode(media.synth_song(36, 30), tmp_path / "whole.mp3", RATE)
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(good_mp3.read_bytes()[:2048])
    text = tmp_path / "readme.mp3"
    text.write_text("definitely not audio\n" * 100)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silence = media.write_wav(tmp_path / "silence.wav", np.zeros(RATE * 10, np.float32))
    too_long = media.write_wav(tmp_path / "long.wav", media.synth_song(37, 70))
    no_audio = media.video_without_audio(tmp_path / "silent_film.mp4")
    return {
        "empty": (empty, "empty"),
        "text": (text, "not an audio or video file"),
        "truncated": (truncated, "No music could be fingerprinted"),
        "silence": (silence, "No music could be fingerprinted"),
        "too_long": (too_long, "limit is 1 min"),
        "no_audio": (no_audio, "no audio stream"),
    }


def test_ingest_bad_files_fail_with_a_reason_and_store_nothing(bad_files, tmp_path):
    good = media.write_wav(tmp_path / "good.wav", media.synth_song(38, 20))
    paths = [path for path, _ in bad_files.values()]
    results = {r["path"]: r for r in _ingest(*paths[:3], good, *paths[3:])}
    assert results[str(good)]["status"] == "added"  # a bad file never stops the run
    for name, (path, reason) in bad_files.items():
        result = results[str(path)]
        assert result["status"] == "failed" and result["track_id"] is None, name
        assert reason in result["reason"], (name, result["reason"])
    assert Track.objects.count() == 1
    assert store.table_size()["rows"] == Track.objects.get().hash_count


def test_ingest_reports_every_file_in_its_order(formats, tmp_path):
    """With one job the next file is read while one is written: outcomes still come in order."""
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("definitely not audio\n" * 100)
    paths = [formats["mp3"], not_audio, formats["wav"], formats["mp3"], formats["mp4"]]
    results = _ingest(*paths)
    assert [r["path"] for r in results] == [str(path) for path in paths]
    assert [r["status"] for r in results] == ["added", "failed", "added", "duplicate", "added"]
    assert results[3]["track_id"] == results[0]["track_id"]
    assert Track.objects.count() == 3


def test_ingest_with_worker_processes(formats, tmp_path, monkeypatch):
    """--jobs 2 forks workers (spawns them in a process with threads running, as this test
    process may be) that write to the same (test) database; a bad file fails alone."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    monkeypatch.setenv("DATABASE_URL", f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    monkeypatch.setenv("DJANGO_MEDIA_ROOT", str(settings.MEDIA_ROOT))
    (tmp_path / "albums" / "notes.mp3").write_text("definitely not audio\n" * 100)
    results = _ingest(tmp_path / "albums", jobs=2)
    assert sorted(r["status"] for r in results) == ["added"] * 3 + ["failed"]
    assert Track.objects.count() == 3


test_ingest_with_worker_processes = pytest.mark.django_db(transaction=True)(test_ingest_with_worker_processes)


def test_recognize_clips_unknown_audio_and_timeline(formats, tmp_path):
    ids = {r["path"].rsplit(".", 1)[1]: r["track_id"] for r in _ingest(tmp_path / "albums")}
    clip = media.encode(media.synth_song(32, 30)[RATE * 11 : RATE * 17], tmp_path / "clip.ogg", RATE)
    unknown = media.encode(media.synth_song(999, 6), tmp_path / "unknown.m4a", RATE)
    [known, nothing] = _recognize(clip, unknown)
    assert known["match"]["track_id"] == ids["mp3"]
    assert abs(known["match"]["offset_s"] - 11) < 0.1 and known["match"]["confidence"] > 0.999
    assert known["elapsed_ms"] > 0 and nothing["match"] is None
    # A long input: two catalog songs around unrelated music.
    mix = np.concatenate(
        [
            media.synth_song(31, 30)[RATE * 2 : RATE * 17],
            media.synth_song(998, 12),
            media.synth_song(33, 30)[RATE * 5 : RATE * 25],
        ]
    )
    [timeline] = _recognize(media.encode(mix, tmp_path / "mix.flac", RATE), timeline=True)
    segments = timeline["segments"]
    assert [s["track_id"] for s in segments] == [ids["wav"], ids["mp4"]]
    assert abs(segments[0]["start_s"] - 0) <= 1 and abs(segments[0]["end_s"] - 15) <= 1
    assert abs(segments[1]["start_s"] - 27) <= 1 and abs(segments[1]["end_s"] - 47) <= 1
    assert abs(segments[1]["offset_s"] - 5) <= 1


def test_recognize_reports_a_clip_played_fast_and_a_timeline_that_drifted(tmp_path):
    """A clip 2 % fast reports its speed (a tape's third of a semitone is not reported), a clip as
    recorded nothing; a recording 1.2 % fast reports it on its segment; the text says so too."""
    song = media.synth_song(39, 60)
    [ingested] = _ingest(media.write_wav(tmp_path / "song.wav", song))
    fast = media.write_wav(tmp_path / "fast.wav", media.played_faster(song[RATE * 10 : RATE * 19], 1.02)[: RATE * 8])
    heard = media.write_wav(tmp_path / "heard.wav", song[RATE * 10 : RATE * 18])
    drifted = media.write_wav(tmp_path / "drifted.wav", media.played_faster(song[RATE * 3 : RATE * 53], 1.012))
    [sped, as_heard] = _recognize(fast, heard)
    assert sped["match"]["track_id"] == as_heard["match"]["track_id"] == ingested["track_id"]
    assert sped["match"]["speed"] == pytest.approx(1.02, abs=0.005) and sped["match"]["pitch_semitones"] is None
    assert as_heard["match"]["speed"] is None and as_heard["match"]["pitch_semitones"] is None
    [timeline] = _recognize(drifted, timeline=True)
    [segment] = timeline["segments"]
    assert segment["speed"] == pytest.approx(1.012, abs=0.002) and segment["pitch_semitones"] is None
    assert timeline["match"]["speed"] == segment["speed"]
    out = StringIO()
    call_command("recognize", str(fast), str(heard), stdout=out, stderr=StringIO())
    first, second = out.getvalue().splitlines()
    assert "played 2 % fast)" in first and "played" not in second


def test_recognize_unreadable_input_exits_non_zero(tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("nope")
    with pytest.raises(CommandError) as raised:
        _recognize(bad)
    assert raised.value.returncode == 1


def test_sketch_tracks_sketches_a_catalog_ingested_before_sketches(formats):
    from recognition.models import FrameSketch

    results = _ingest(formats["wav"], formats["mp3"])
    with_audio = Track.objects.get(pk=results[0]["track_id"])
    without_audio = Track.objects.get(pk=results[1]["track_id"])
    stored = {s.track_id: bytes(s.frames) for s in FrameSketch.objects.all()}
    FrameSketch.objects.all().delete()  # as before migration 0007
    without_audio.audio.delete(save=True)
    out = StringIO()
    call_command("sketch_tracks", stdout=out)
    assert "sketched 1 track(s); 1 without stored audio" in out.getvalue()
    assert bytes(FrameSketch.objects.get(track_id=with_audio.pk).frames) == stored[with_audio.pk]
    assert not FrameSketch.objects.filter(track_id=without_audio.pk).exists()
    call_command("sketch_tracks", stdout=(again := StringIO()))
    assert "sketched 0 track(s)" in again.getvalue()
