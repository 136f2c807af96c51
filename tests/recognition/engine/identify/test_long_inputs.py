"""Long recordings, window by window (recognition/engine/identify/long_inputs.py)."""

import numpy as np
import pytest

from recognition.engine import fingerprint as fp
from tests import media

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
    assert segments[1].speed == 1.0  # too short to measure: its windows' own estimates
    assert all(not s.change and s.pitch_semitones == 0.0 for s in segments)
