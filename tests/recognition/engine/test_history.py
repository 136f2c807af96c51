"""A monitor's retained history and its search for new tracks (recognition/engine/monitoring/history.py)."""

import numpy as np

from recognition.engine import Identifier, MemoryIndex, StreamMonitor
from recognition.engine import fingerprint as fp
from recognition.engine.monitoring import history
from recognition.engine.monitoring.restarts import RestartingFingerprinter
from tests import media
from tests.recognition.engine.test_monitoring import silence, unknown_song

RATE = media.ENGINE_RATE


def listen(index: MemoryIndex, stream: np.ndarray):
    """Run a live monitor over the stream keeping its minutes; return (its plays, the blobs)."""
    monitor = StreamMonitor(Identifier(index), retain=True)
    chunker = history.MinuteChunker()
    blobs: dict[int, bytes] = {}
    events = []
    for at in range(0, stream.size, RATE // 2):
        events += monitor.push(stream[at : at + RATE // 2])
        blobs.update(chunker.add(monitor.take_peaks(), monitor.heard_s * 31.25))
    events += monitor.finish()
    blobs.update(chunker.add(monitor.take_peaks(), monitor.heard_s * 31.25))
    blobs.update(chunker.flush())
    assert sorted(blobs) == list(range(len(blobs)))  # every minute once, in order
    return [e.sighting for e in events if e.kind == "ended"], [blobs[k] for k in sorted(blobs)]


def catalog(songs, seeds) -> MemoryIndex:
    index = MemoryIndex()
    for seed in seeds:
        index.add(seed, fp.fingerprint(songs[seed]))
    return index


def test_a_minute_packs_its_peaks_to_four_bytes_each_and_back():
    rng = np.random.default_rng(0)
    frames = np.sort(rng.uniform(0, history.MINUTE_FRAMES, 500))
    bins, wide, shifts = rng.integers(2, 231, 500), rng.random(500) < 0.5, rng.integers(0, 2, 500)
    blob = history.pack_minute(frames, bins, wide, shifts)
    assert len(blob) == 4 * 500
    back = history.unpack_minute(blob)
    assert np.abs(back[0] - frames).max() <= 0.5 / history.FRAME_UNITS
    assert (back[1] == bins).all() and (back[2] == wide).all() and (back[3] == shifts).all()


def test_a_track_added_later_is_found_as_the_live_monitor_would_have_found_it(songs):
    first, later, other = list(songs)[:3]
    stream = np.concatenate(
        [songs[first][: 30 * RATE], unknown_song(321, 20), songs[later][5 * RATE : 50 * RATE], silence(20)]
    )
    # What the monitor would have logged, had the track been there all along...
    every, _ = listen(catalog(songs, [first, later, other]), stream)
    # ...and what it logged and kept without it.
    logged, blobs = listen(catalog(songs, [first, other]), stream)
    assert [s.track_id for s in logged] == [first]
    assert sum(map(len, blobs)) / (stream.size / RATE) * 3600 < 2e6  # bytes per stream-hour
    found = history.search(catalog(songs, [first, later, other]), [later], blobs)
    expected = [s for s in every if s.track_id == later]
    assert len(found) == len(expected) == 1
    assert abs(found[0].start_s - 50.0) <= 1.0 and abs(found[0].end_s - 95.0) <= 1.0
    assert abs(found[0].start_s - expected[0].start_s) <= 0.1
    assert abs(found[0].end_s - expected[0].end_s) <= 0.1
    assert abs(found[0].offset_start_s - 5.0) <= 1.0


def test_a_search_finds_nothing_where_the_new_track_was_never_played(songs):
    first, later, other = list(songs)[:3]
    stream = np.concatenate([songs[first], unknown_song(322, 60), songs[other][: 20 * RATE]])
    _, blobs = listen(catalog(songs, [first, other]), stream)
    assert history.search(catalog(songs, [first, later, other]), [later], blobs, catalog_tracks=10_000) == []


def test_a_restarting_fingerprinter_gives_each_peak_once_as_one_fingerprinter_would(songs):
    stream = np.concatenate([songs[1], songs[2]])
    one = fp.StreamingFingerprinter(fp.QUERY, keep_peaks=True)
    restarting = RestartingFingerprinter(fp.QUERY, 10.0, keep_peaks=True)  # restarts every ~10 s
    took: list[list] = [[], []]
    for at in range(0, stream.size, RATE // 2):
        one.push(stream[at : at + RATE // 2])
        restarting.push(stream[at : at + RATE // 2])
        for shift, peaks in enumerate(restarting.take_peaks()):
            took[shift].append(peaks)
    for shift, (frames, bins, _) in enumerate(one.take_peaks()):
        again = np.concatenate([p[0] for p in took[shift]])
        assert (np.diff(again) >= 0).all()  # in time order, none twice
        expected = set(zip(np.rint(frames * 8).tolist(), np.rint(bins).tolist(), strict=True))
        again_bins = np.concatenate([p[1] for p in took[shift]])
        got = set(zip(np.rint(again * 8).tolist(), np.rint(again_bins).tolist(), strict=True))
        assert len(expected & got) >= 0.99 * max(len(expected), len(got))
