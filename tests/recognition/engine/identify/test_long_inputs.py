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
