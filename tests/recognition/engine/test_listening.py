"""Audio that arrives in pieces (recognition/engine/listening.py)."""

from dataclasses import replace

from recognition.engine import ListeningSession
from recognition.engine import fingerprint as fp
from tests import media

RATE = media.ENGINE_RATE


def test_a_listening_session_answers_as_audio_arrives_and_never_for_unknown_music(engine, songs):
    session = ListeningSession(engine)
    clip = songs[5][int(17.0 * RATE) : int(29.0 * RATE)]
    chunk = RATE // 2
    answered_after = None
    for i in range(0, clip.size, chunk):
        match = session.push(clip[i : i + chunk])
        if match is not None:
            answered_after = (i + chunk) / RATE
            break
    assert match is not None and match.track_id == 5 and answered_after <= 8
    assert abs(fp.frames_to_seconds(match.offset_frames) - 17.0) < 0.05
    unknown = ListeningSession(engine)
    song = media.to_engine_rate(media.synth_song(321, 12))
    assert all(unknown.push(song[i : i + chunk]) is None for i in range(0, song.size, chunk))
    assert unknown.finish() is None


def test_a_listening_session_answers_sooner_with_sketches(engine, songs):
    heard = {}
    for kind, identifier in (("with sketches", engine), ("landmarks only", replace(engine, sketches=False))):
        session = ListeningSession(identifier)
        clip = songs[6][int(40.1 * RATE) : int(52.1 * RATE)]
        for i in range(0, clip.size, RATE // 4):
            match = session.push(clip[i : i + RATE // 4])
            if match is not None:
                break
        assert match is not None and match.track_id == 6
        heard[kind] = session.heard_s
    # Measured: 2.25 s with sketches, 2.75 s on landmarks alone (3.25 s before votes were binned
    # in half frames, which made the landmarks' decision stronger).
    assert heard["with sketches"] <= heard["landmarks only"] - 0.5, heard
