"""Long recordings, window by window (recognition/engine/identify/long_inputs.py)."""

from dataclasses import replace

import numpy as np
import pytest

from recognition.engine import Identifier, matching
from recognition.engine import fingerprint as fp
from recognition.engine.identify import long_inputs
from tests import media
from tests.recognition.engine.indexes import counted_engine_without_smoothing

RATE = media.ENGINE_RATE


def test_timeline_lists_each_song_in_order(engine, songs):
    gap = np.zeros(3 * RATE, np.float32)
    parts = [songs[2][5 * RATE : 25 * RATE], gap, songs[6][30 * RATE : 45 * RATE], gap, songs[8][0 : 20 * RATE]]
    recording = np.concatenate(parts)
    chunks = (recording[i : i + 60000] for i in range(0, recording.size, 60000))
    found = engine.timeline(chunks)
    segments = found.segments
    assert found.total_frames == pytest.approx(recording.size / 256, abs=2) and found.hashes > 1000
    assert [s.track_id for s in segments] == [2, 6, 8]
    expected = [(0, 20), (23, 38), (41, 61)]
    for segment, (start, end) in zip(segments, expected, strict=True):
        assert abs(fp.frames_to_seconds(segment.start_frame) - start) <= 1.0
        assert abs(fp.frames_to_seconds(segment.end_frame) - end) <= 1.0
    assert abs(fp.frames_to_seconds(segments[1].offset_frames) - 30) <= 1.0


def test_a_segment_played_one_percent_fast_carries_the_speed_its_windows_drifted_at(engine, songs):
    """The windows of a recording played 1.2 % fast match as heard, their alignment moving 1.2 %
    of the time: the segment measures its speed from that drift, and reports it."""
    recording = media.played_faster(songs[5][3 * RATE : 53 * RATE], 1.012)
    (segment,) = engine.timeline(iter([recording])).segments
    assert segment.track_id == 5
    assert segment.speed == pytest.approx(1.012, abs=0.002)
    assert segment.change.speed == pytest.approx(1.012, abs=0.002) and segment.change.pitch_semitones is None


def test_an_unchanged_recording_reports_no_change_even_on_short_segments(engine, songs):
    gap = np.zeros(3 * RATE, np.float32)
    recording = np.concatenate([songs[2][5 * RATE : 45 * RATE], gap, songs[6][30 * RATE : 38 * RATE]])
    segments = engine.timeline(iter([recording])).segments
    assert [s.track_id for s in segments] == [2, 6]
    assert segments[0].speed == pytest.approx(1.0, abs=0.002)  # measured from its drift
    # Too short to measure from its windows' alignment: the median of their own estimates.
    assert segments[1].speed == pytest.approx(1.0, abs=0.003)
    assert all(not s.change and s.pitch_semitones == 0.0 for s in segments)


def _recording(samples: np.ndarray, *, before_s: float = 4.0, total_s: float = 60.0) -> np.ndarray:
    """`samples` from `before_s` into a recording of `total_s` seconds, silence around them."""
    out = np.zeros(int(total_s * RATE), np.float32)
    start = int(before_s * RATE)
    n = min(samples.size, out.size - start)
    out[start : start + n] = samples[:n]
    return out


WIDE = (1 / 1.05, 1 / 1.1, 1 / 1.15, (1.0, 2 ** (-1 / 6)), (1.0, 2 ** (1 / 6)))


@pytest.mark.parametrize(("song", "speed", "source_s"), [(3, 1.02, (5, 57)), (6, 0.98, (2, 50))])
def test_a_recording_two_percent_fast_or_slow_is_found_by_retrying_its_windows(
    index, engine, songs, song, speed, source_s
):
    """No window of it matches as heard; retried at the near speeds, they give one segment of the
    track, where it is in the recording and in the track, at its speed."""
    first, last = source_s
    recording = _recording(media.played_faster(songs[song][first * RATE : last * RATE], speed))
    assert Identifier(index, speed_variants=(), wide_variants=()).timeline(iter([recording])).segments == []
    (segment,) = engine.timeline(iter([recording])).segments
    assert segment.track_id == song
    assert abs(fp.frames_to_seconds(segment.start_frame) - 4.0) <= 3.0
    assert abs(fp.frames_to_seconds(segment.end_frame) - (4.0 + (last - first) / speed)) <= 3.0
    assert abs(fp.frames_to_seconds(segment.offset_frames) - first) <= 0.5
    assert segment.speed == pytest.approx(speed, abs=0.005) and segment.change.speed == pytest.approx(speed, abs=0.005)


def test_a_sped_up_edit_and_a_transposed_one_are_found_by_the_wide_tier(index, songs):
    """10 % fast (tape) and two semitones up (tempo kept) match nothing as heard or at the near
    speeds; with the wide tier every window is retried at it, and the segment says the change."""
    plain, wide = Identifier(index, wide_variants=()), Identifier(index, wide_variants=WIDE)
    fast = _recording(media.played_faster(songs[3][2 * RATE : 59 * RATE], 1.1))
    up = _recording(media.to_engine_rate(media.synth_song(5, 60, transpose_semitones=2.0))[5 * RATE : 55 * RATE])
    for recording, track, (first, last), speed, pitch in (
        (fast, 3, (2, 59), 1.1, 12 * np.log2(1.1)),
        (up, 5, (5, 55), 1.0, 2.0),
    ):
        assert plain.timeline(iter([recording])).segments == []
        (segment,) = wide.timeline(iter([recording])).segments
        assert segment.track_id == track
        assert abs(fp.frames_to_seconds(segment.start_frame) - 4.0) <= 3.0
        assert abs(fp.frames_to_seconds(segment.end_frame) - (4.0 + (last - first) / speed)) <= 3.0
        assert abs(fp.frames_to_seconds(segment.offset_frames) - first) <= 0.5
        assert segment.speed == pytest.approx(speed, abs=0.005)
        assert segment.pitch_semitones == pytest.approx(pitch, abs=0.05)


def test_music_under_a_louder_voice_is_found_by_the_denser_look(index, songs):
    """A song with a voice 15 dB louder over all of it: no window matches as heard or at any other
    speed; looked at again with denser peaks, windows match the song where it is in the recording
    and in the track."""
    recording = media.voice_over(_recording(songs[2][5 * RATE : 55 * RATE]), media.synth_voice(60, seed=1), 15.0)
    assert Identifier(index, window_dense_params=None).timeline(iter([recording])).segments == []
    segments = Identifier(index).timeline(iter([recording])).segments
    assert segments and all(s.track_id == 2 for s in segments)
    for segment in segments:  # 4 s into the recording is 5 s into the track
        in_track_s = fp.frames_to_seconds(segment.start_frame) + 1.0
        assert abs(fp.frames_to_seconds(segment.offset_frames) - in_track_s) <= 0.5
    assert sum(fp.frames_to_seconds(s.end_frame - s.start_frame) for s in segments) >= 15.0


def test_a_voice_alone_matches_nothing_with_the_denser_look(engine):
    """Speech over no music gives peaks in every window, none of them a catalog song's."""
    recording = media.synth_voice(60, seed=2)
    found = engine.timeline(iter([recording]))
    assert found.hashes > 1000 and found.segments == []


def _heard(engine: Identifier, recording: np.ndarray, **kwargs) -> tuple[list, list[float]]:
    """The segments of `recording` (in 2 s chunks, looked up 10 s at a time) and the progress heard."""
    heard: list[float] = []
    chunks = (recording[i : i + 2 * RATE] for i in range(0, recording.size, 2 * RATE))
    found = engine.timeline(chunks, lookup_batch_s=10.0, progress=heard.append, **kwargs)
    return found.segments, heard


def test_progress_rises_through_the_retries_and_reaches_one_only_at_the_end(engine, songs):
    """A recording 2 % fast finds nothing as heard: the first pass reports up to its share by the
    seconds looked up, the windows retried at the near speeds report the rest, batch by batch,
    and 1 comes once, last, with the segments."""
    recording = _recording(media.played_faster(songs[3][5 * RATE : 57 * RATE], 1.02))
    segments, heard = _heard(engine, recording, duration_s=recording.size / RATE)
    assert [s.track_id for s in segments] == [3]
    assert heard == sorted(set(heard)) and heard[0] > 0  # rises, never repeats
    assert heard[-1] == 1.0 and max(heard[:-1]) < 1.0
    first_pass = [f for f in heard if f <= long_inputs.FIRST_PASS_SHARE]
    retries = [f for f in heard[:-1] if f > long_inputs.FIRST_PASS_SHARE]
    assert len(first_pass) >= 5 and first_pass[-1] == pytest.approx(long_inputs.FIRST_PASS_SHARE)
    assert len(retries) >= 3  # each batch of windows retried (10 s of them), each tier's end


def test_progress_without_a_length_or_a_retry_still_ends_at_one(index, songs):
    """Without the input's length the first pass reports its end only; an input found as heard
    with no retry to run goes from there to 1."""
    recording = songs[2][5 * RATE : 50 * RATE]
    no_retry = Identifier(index, speed_variants=(), wide_variants=(), window_dense_params=None)
    segments, heard = _heard(no_retry, recording)
    assert [s.track_id for s in segments] == [2]
    assert heard == [long_inputs.FIRST_PASS_SHARE, 1.0]


def test_unknown_audio_gives_no_segment_even_with_every_retry(index):
    unknown = media.to_engine_rate(media.synth_song(77, 60))
    assert Identifier(index, wide_variants=WIDE).timeline(iter([unknown])).segments == []


def test_each_window_counts_the_looks_of_a_clip_and_its_retries_take_few_lookups(songs):
    """A window's decisions count as many looks as a clip's retries (as heard, the denser look
    and four speeds: log10(6) on the bound), once a window; the windows' retries are looked up a
    batch at a time, a few rounds of two stages, however many windows fail."""
    recording = _recording(songs[3][5 * RATE : 55 * RATE])
    counting, engine = counted_engine_without_smoothing(songs)
    plain = Identifier(counting.index, speed_variants=(), wide_variants=(), window_dense_params=None)
    (as_heard,) = plain.timeline(iter([recording])).segments
    (retried,) = engine.timeline(iter([recording])).segments
    assert retried.log10_p == pytest.approx(as_heard.log10_p + np.log10(6))
    fast = _recording(media.played_faster(songs[3][5 * RATE : 57 * RATE], 1.02))
    calls = {}
    for name, tried in (
        (
            "heard",
            Identifier(counting, speed_variants=(), smoothed_params=None, wide_variants=(), window_dense_params=None),
        ),
        ("retried", replace(engine, window_dense_params=None)),
    ):
        counting.calls.clear()
        found = tried.timeline(iter([fast])).segments
        calls[name] = len(counting.calls)
    assert [s.track_id for s in found] == [3]
    windows = matching.window_count(int(60 * fp.QUERY.frames_per_second), 187, 93)
    assert windows >= 19 and 2 <= calls["retried"] - calls["heard"] <= 2 * 3
