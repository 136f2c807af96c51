"""Recognising a clip: one decode and one fingerprinting pass, the same answers as before either."""

import subprocess
import sys

import numpy as np
import pytest

from recognition.engine import audio
from recognition.engine import fingerprint as fp
from recognition.services import identifier, track_ingest
from recognition.services.recognize import match_card, match_details, recognize_clip, recognize_file
from tests import media

pytestmark = pytest.mark.django_db

RATE = fp.QUERY.sample_rate_hz


@pytest.fixture
def catalog(rights_holder, song_files):
    """Two songs of the catalog; the third song file stays unknown."""
    return [track_ingest(path=song_files[seed], owner=rights_holder, store_audio=False).track for seed in (1, 2)]


@pytest.fixture
def spectrograms(monkeypatch):
    """Count the spectrograms the engine computes for peaks: one per shift in a fingerprinting pass."""
    peaks = sys.modules[fp.constellation.__module__]
    real = peaks.spectrogram_db
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(peaks, "spectrogram_db", counted)
    return calls


def _clip(path, start_s: float, seconds: float) -> np.ndarray:
    samples = audio.decode(path, sample_rate_hz=RATE, max_seconds=60)
    return samples[int(start_s * RATE) : int((start_s + seconds) * RATE)]


def _fingerprinting_first(samples: np.ndarray) -> dict | str | None:
    """The answer as recognize_clip gave it when it fingerprinted every clip before identifying."""
    if len(fp.fingerprint(samples, fp.QUERY)) == 0:
        return "no_signal"
    found = identifier().identify(samples)
    return match_details(found) if found else None


def _answer(samples: np.ndarray) -> dict | str | None:
    try:
        return recognize_clip(samples)
    except audio.AudioError as error:
        return error.code


def test_a_clip_that_matches_is_fingerprinted_once(catalog, song_files, spectrograms):
    found = recognize_clip(_clip(song_files[2], 12, 5))
    assert found is not None and found["track_id"] == catalog[1].pk
    assert len(spectrograms) == fp.QUERY.shifts


@pytest.mark.parametrize("kind", ["known", "unknown music", "silence"])
def test_recognize_clip_computes_no_spectrogram_beyond_identify(catalog, song_files, spectrograms, kind):
    """Telling silence from unknown music costs no second fingerprinting pass, whatever the answer."""
    clip = {
        "known": lambda: _clip(song_files[2], 12, 5),
        "unknown music": lambda: _clip(song_files[3], 10, 5),
        "silence": lambda: np.full(5 * RATE, 1e-6, np.float32),
    }[kind]()
    identifier().identify(clip)
    by_identify = len(spectrograms)
    spectrograms.clear()
    _answer(clip)
    assert by_identify >= fp.QUERY.shifts
    assert len(spectrograms) == by_identify


@pytest.mark.parametrize("level", [0.0, 1e-6])
def test_silence_is_no_signal(catalog, level, spectrograms):
    with pytest.raises(audio.AudioError) as refused:
        recognize_clip(np.full(5 * RATE, level, np.float32))
    assert refused.value.code == "no_signal"


def test_answers_are_those_of_fingerprinting_first(catalog, song_files):
    rng = np.random.default_rng(5)
    clips = {
        "known": _clip(song_files[1], 20, 5),
        "known, short": _clip(song_files[2], 3, 1.5),
        "unknown music": _clip(song_files[3], 10, 5),
        "noise": (0.3 * rng.standard_normal(5 * RATE)).astype(np.float32),
        "one steady tone": (0.5 * np.sin(2 * np.pi * 440 * np.arange(5 * RATE) / RATE)).astype(np.float32),
        "two clicks": np.pad(np.ones(8, np.float32), (RATE, 3 * RATE)),
        "quiet": np.full(5 * RATE, 1e-6, np.float32),
        "digital silence": np.zeros(5 * RATE, np.float32),
        "shorter than a frame": media.to_engine_rate(media.synth_song(4, 0.02)),
    }
    answers = {name: _answer(samples) for name, samples in clips.items()}
    assert answers == {name: _fingerprinting_first(samples) for name, samples in clips.items()}
    assert answers["known"]["track_id"] == catalog[0].pk and answers["unknown music"] is None
    assert answers["digital silence"] == answers["quiet"] == "no_signal"


def test_the_listen_pages_card_holds_what_a_music_app_shows(rights_holder, song_files):
    """match_card (the listen socket's `match`): album and year, artwork, links and a preview
    from the catalog, each only where the rights holder set or allowed it."""
    import io

    from PIL import Image

    from catalog.services import album_artwork_set, album_update, track_update
    from recognition.engine import Match

    track = track_ingest(path=song_files[1], owner=rights_holder, title="Harbour Lights").track
    found = Match(
        track_id=track.pk, offset_frames=0, score=40, log10_p=-12.0, first_frame=0, last_frame=50, candidates=1
    )
    bare = match_card(found)
    assert (bare["album"], bare["year"], bare["artwork_url"], bare["preview_url"], bare["links"]) == (
        "",
        None,
        "",
        "",
        [],
    )
    track_update(
        track=track, album="Examples Live", links=["https://open.spotify.com/track/1", "https://label.example/"],
        preview_allowed=True,
    )  # fmt: skip
    album = track.album
    album_update(album=album, release_year=2025)
    png = io.BytesIO()
    Image.new("RGB", (100, 100), "red").save(png, "PNG")
    album_artwork_set(album=album, image=png.getvalue())
    card = match_card(found)
    assert card["title"] == "Harbour Lights" and (card["album"], card["year"]) == ("Examples Live", 2025)
    assert card["artwork_url"].startswith(f"/tracks/{track.pk}/artwork?v=")
    assert card["preview_url"].startswith(f"/tracks/{track.pk}/preview?v=")
    assert card["links"] == [
        {"name": "Spotify", "url": "https://open.spotify.com/track/1"},
        {"name": "label.example", "url": "https://label.example/"},
    ]
    assert card["url"] == f"/tracks/{track.pk}/" and card["confidence"] == round(found.confidence, 6)


def test_a_changed_match_says_so_on_the_card_in_the_history_and_only_from_the_rule(rights_holder, song_files, client):
    """A match the speed retries found 2 % fast and a tone lower: the listen card carries its
    speed and pitch, the saved recognition keeps them and the history says them in words; a
    change under 1 % and half a semitone is no change anywhere."""
    from django.urls import reverse

    from recognition.engine import Match
    from recognition.models import Recognition
    from recognition.services import live_recognition_save

    track = track_ingest(path=song_files[1], owner=rights_holder, title="Harbour Lights").track
    fields = {"track_id": track.pk, "offset_frames": 0, "score": 40, "log10_p": -12.0, "first_frame": 0}
    changed = Match(**fields, last_frame=50, candidates=1, speed=1 / 0.98, pitch_semitones=-2.0)
    slight = Match(**fields, last_frame=50, candidates=1, speed=1.004, pitch_semitones=0.3)
    card = match_card(changed)
    assert (card["speed"], card["pitch_semitones"]) == (1.02, -2.0)
    assert (match_card(slight)["speed"], match_card(slight)["pitch_semitones"]) == (None, None)
    for match in (changed, slight):
        live_recognition_save(user=rights_holder, match=match, heard_s=8.0, latency_ms=900.0)
    saved = {r.speed: r for r in Recognition.objects.filter(user=rights_holder)}
    assert set(saved) == {1.02, None} and saved[1.02].pitch_semitones == -2.0 and saved[None].pitch_semitones is None
    client.force_login(rights_holder)
    html = client.get(reverse("recognition:history")).content.decode()
    assert html.count('data-testid="history-change"') == 1
    assert 'data-testid="history-change">played 2 % fast, pitch down 2 semitones<' in html


def _song_clip_file(song_file, folder, *, rate: int, channels: int, suffix: str = ".wav"):
    """5 s of a song file (from 12 s), written at `rate` with `channels`, as WAV or any format."""
    from scipy import signal

    song = audio.decode(song_file, sample_rate_hz=media.FILE_RATE, max_seconds=60)[12 * media.FILE_RATE :][
        : 5 * media.FILE_RATE
    ]
    samples = signal.resample_poly(song, rate // 50, media.FILE_RATE // 50).astype(np.float32)
    path = media.write_wav(folder / f"clip{rate}x{channels}.wav", samples, rate=rate, channels=channels)
    if suffix != ".wav":
        media.ffmpeg("-i", str(path), str(path.with_suffix(suffix)))
        path = path.with_suffix(suffix)
    return path


@pytest.mark.parametrize(("rate", "channels"), [(44100, 1), (48000, 2), (8000, 1)])
def test_a_wav_read_in_process_gets_the_match_and_offset_ffmpeg_gets(catalog, song_files, tmp_path, rate, channels):
    path = _song_clip_file(song_files[2], tmp_path, rate=rate, channels=channels)
    answers = []
    for in_process in (True, False):
        _, samples = audio.decode_described(path, sample_rate_hz=RATE, max_seconds=31, in_process=in_process)
        answers.append(recognize_clip(samples))
    read, decoded = answers
    assert read is not None and decoded is not None
    assert read["track_id"] == decoded["track_id"] == catalog[1].pk
    assert read["offset_s"] == pytest.approx(decoded["offset_s"], abs=0.033) == pytest.approx(12, abs=0.05)


def test_recognize_file_starts_one_child_for_compressed_audio_and_none_for_wav(
    catalog, song_files, tmp_path, monkeypatch
):
    wav = _song_clip_file(song_files[2], tmp_path, rate=44100, channels=2)
    flac = _song_clip_file(song_files[2], tmp_path, rate=22050, channels=1, suffix=".flac")
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "0")  # every child started for its file, counted here
    audio.PRESTARTED.clear()
    started = []
    real = subprocess.Popen
    monkeypatch.setattr(audio.subprocess, "Popen", lambda *a, **k: started.append(a[0]) or real(*a, **k))
    answers = {}
    for name, path in (("wav", wav), ("flac", flac)):
        started.clear()
        outcome = recognize_file(path)
        answers[name] = (len(started), outcome.match["track_id"], outcome.duration_s)
    assert answers == {"wav": (0, catalog[1].pk, 5.0), "flac": (1, catalog[1].pk, 5.0)}


def test_a_clip_played_ten_percent_fast_is_found_unless_the_wide_retries_are_off(catalog, song_files, settings):
    """The portal's engine finds a sped-up clip through its wide retries and says how fast it ran;
    EARSHOT_WIDE_RETRIES=false leaves them out (and the clip unanswered)."""
    song = audio.decode(str(song_files[1]), sample_rate_hz=RATE, max_seconds=60)
    clip = media.played_faster(song[12 * RATE : 21 * RATE], 1.1)[: 6 * RATE]
    match = identifier().identify(clip)
    assert match is not None and match.track_id == catalog[0].id and abs(match.speed - 1.1) < 0.011
    settings.EARSHOT_WIDE_RETRIES = False
    assert identifier().wide_variants == () and identifier().identify(clip) is None


def test_the_denser_look_is_for_clips_and_long_inputs_and_turned_off_by_its_setting(settings):
    """Clips and uploads' windows get the denser look (music under a voice-over), a clip's with
    triplets from more targets; EARSHOT_DENSE_LOOK=false leaves it out of both."""
    assert identifier().window_dense_params == fp.QUERY_DENSE and identifier().dense_params == fp.QUERY_DENSE_CLIP
    settings.EARSHOT_DENSE_LOOK = False
    assert identifier().window_dense_params is None and identifier().dense_params is None
