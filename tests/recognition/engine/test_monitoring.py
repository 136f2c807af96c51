"""A stream that never ends, watched for catalog tracks (recognition/engine/monitoring.py)."""

from dataclasses import replace

import numpy as np
import pytest

from recognition.engine import MonitorEvent, Sighting, StreamMonitor
from recognition.engine import fingerprint as fp
from recognition.engine.monitoring.restarts import RestartingFingerprinter
from tests import media

RATE = media.ENGINE_RATE
SONG_S = 60.0  # the synthetic songs of the engine's index (conftest.py)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def unknown_song(seed: int, seconds: float) -> np.ndarray:
    assert seed not in media.SONG_SEEDS
    return media.to_engine_rate(media.synth_song(seed, seconds))


def watch(monitor: StreamMonitor, stream: np.ndarray, *, seed: int = 0) -> list[tuple[float, MonitorEvent]]:
    """Push the stream in pieces of 0.25-1 s, then finish; return (heard_s, event) in order."""
    rng = np.random.default_rng(seed)
    events = []
    at = 0
    while at < stream.size:
        n = int(rng.uniform(0.25, 1.0) * RATE)
        events += [(monitor.heard_s, e) for e in monitor.push(stream[at : at + n])]
        at += n
    return events + [(monitor.heard_s, e) for e in monitor.finish()]


def kinds(events: list[tuple[float, MonitorEvent]]) -> list[tuple[str, int]]:
    """The started and ended events, play by play in stream order (a play may end after the
    next one started: its end is known only once the gap has passed)."""
    order = {"started": 0, "ended": 1}
    plays = sorted(
        (e.sighting.start_s, order[e.kind], e.kind, e.sighting.track_id) for _, e in events if e.kind in order
    )
    return [(kind, track) for _, _, kind, track in plays]


def near(value: float, expected: float, within: float = 1.0) -> bool:
    return abs(value - expected) <= within


def test_a_playlist_gives_each_catalog_play_once_with_its_times_and_offsets(engine, songs):
    # Song 1, an unknown song, song 2, silence, song 1 again: plays at 0, 90 and 160 s.
    stream = np.concatenate([songs[1], unknown_song(321, 30), songs[2], silence(10), songs[1]])
    events = watch(StreamMonitor(engine), stream, seed=1)
    assert kinds(events) == [("started", 1), ("ended", 1), ("started", 2), ("ended", 2), ("started", 1), ("ended", 1)]
    starts = [(heard, e.sighting) for heard, e in events if e.kind == "started"]
    ends = sorted((e.sighting for _, e in events if e.kind == "ended"), key=lambda s: s.start_s)
    for (heard, started), ended, play_start in zip(starts, ends, (0.0, 90.0, 160.0), strict=True):
        assert heard - play_start <= 6, (heard, play_start)  # sure within seconds of the start
        assert near(started.start_s, play_start) and near(started.offset_start_s, 0.0), started
        assert (ended.start_s, ended.offset_start_s) == (started.start_s, started.offset_start_s)
        assert near(ended.end_s, play_start + SONG_S) and near(ended.offset_end_s, SONG_S), ended
        assert ended.confidence > 0.999 and ended.speed == pytest.approx(1.0, abs=0.003)
    # While a song plays, its end moves on every ~5 s, never more often.
    extended = [(heard, e.sighting) for heard, e in events if e.kind == "extended" and e.sighting.start_s < 60]
    assert len(extended) >= 8
    heard_at = [heard for heard, _ in extended]
    assert np.diff(heard_at).min() >= 4 and np.diff([s.end_s for _, s in extended]).min() > 0


def test_the_events_do_not_depend_on_the_size_of_the_pieces_or_the_sample_type(engine, songs):
    stream = np.concatenate([silence(3), songs[3][: int(30 * RATE)], silence(20)])
    as_float = [e for _, e in watch(StreamMonitor(engine), stream, seed=2)]
    as_int16 = (stream * 32767).astype(np.int16)
    in_other_pieces = [e for _, e in watch(StreamMonitor(engine), as_int16, seed=3)]
    assert [e.kind for e in as_float] == ["started"] + ["extended"] * (len(as_float) - 2) + ["ended"]
    assert [(e.kind, e.sighting.track_id) for e in in_other_pieces] == [(e.kind, 3) for e in as_float]
    for a, b in zip(as_float, in_other_pieces, strict=True):
        assert near(a.sighting.start_s, b.sighting.start_s, 0.05) and near(a.sighting.end_s, b.sighting.end_s, 0.05)


def test_a_talk_over_or_a_short_break_stays_one_play(engine, songs):
    song = songs[4]
    talked_over = song.copy()
    cover = slice(int(25 * RATE), int(32 * RATE))  # 7 s of loud noise over the song
    talked_over[cover] = media.add_noise(np.zeros(cover.stop - cover.start, np.float32) + 1e-4, -60, seed=9)
    talked_over[cover] *= 3 * np.abs(song).max() / np.abs(talked_over[cover]).max()
    events = watch(StreamMonitor(engine), np.concatenate([talked_over, silence(15)]))
    assert kinds(events) == [("started", 4), ("ended", 4)]
    ended = events[-1][1].sighting
    assert near(ended.start_s, 0) and near(ended.end_s, SONG_S) and near(ended.offset_end_s, SONG_S)
    # A break of 6 s, the song carrying on from where it stopped: one play, 6 s longer.
    paused = np.concatenate([song[: int(30 * RATE)], silence(6), song[int(30 * RATE) :], silence(15)])
    events = watch(StreamMonitor(engine), paused, seed=4)
    assert kinds(events) == [("started", 4), ("ended", 4)]
    ended = events[-1][1].sighting
    assert near(ended.end_s, SONG_S + 6) and near(ended.offset_start_s, 0) and near(ended.offset_end_s, SONG_S)


def test_a_song_played_again_at_once_from_its_start_is_two_plays(engine, songs):
    events = watch(StreamMonitor(engine), np.concatenate([songs[5], songs[5], silence(15)]), seed=5)
    assert kinds(events) == [("started", 5), ("ended", 5), ("started", 5), ("ended", 5)]
    first, second = (e.sighting for _, e in events if e.kind == "ended")
    assert near(first.start_s, 0) and near(first.end_s, SONG_S) and near(first.offset_end_s, SONG_S)
    assert near(second.start_s, SONG_S) and near(second.offset_start_s, 0) and near(second.end_s, 2 * SONG_S)


def test_a_crossfade_gives_both_plays_with_their_own_times(engine, songs):
    fade = int(3 * RATE)
    a, b = songs[6].copy(), songs[7].copy()
    a[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    b[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    stream = np.concatenate([a[:-fade], a[-fade:] + b[:fade], b[fade:], silence(15)])
    events = watch(StreamMonitor(engine), stream, seed=6)
    assert sorted(kinds(events)) == sorted([("started", 6), ("ended", 6), ("started", 7), ("ended", 7)])
    ended = {e.sighting.track_id: e.sighting for _, e in events if e.kind == "ended"}
    assert near(ended[6].start_s, 0) and near(ended[6].end_s, SONG_S, 1.5)  # its last seconds faded out
    assert near(ended[7].start_s, SONG_S - 3, 1.5) and near(ended[7].end_s, 2 * SONG_S - 3)


def test_a_resumed_play_goes_on_when_its_track_carries_on_and_ends_when_it_does_not(engine, songs):
    song = songs[8]
    before = StreamMonitor(engine)
    open_play = [e.sighting for _, e in watch_without_finish(before, song[: int(30 * RATE)])][-1]
    # A new worker takes over 2 s later: its sample 0 is the old stream's 32 s.
    resumed = shift(open_play, -32.0)
    events = watch(StreamMonitor(engine, resume=[resumed]), np.concatenate([song[int(32 * RATE) :], silence(15)]))
    assert [e.kind for _, e in events] == ["extended"] * (len(events) - 1) + ["ended"]
    assert all(
        (e.sighting.start_s, e.sighting.offset_start_s) == (resumed.start_s, resumed.offset_start_s) for _, e in events
    )
    assert events[0][0] <= 6  # said to go on within seconds
    ended = events[-1][1].sighting
    assert near(ended.end_s, SONG_S - 32) and near(ended.offset_end_s, SONG_S)
    # The same track from its start instead: the old play ends, a new one starts.
    events = watch(StreamMonitor(engine, resume=[resumed]), np.concatenate([song, silence(15)]))
    assert kinds(events) == [("ended", 8), ("started", 8), ("ended", 8)]
    assert events[0][1].sighting == resumed
    # Another track, or nothing: the old play ends once the gap has passed, as it was.
    events = watch(StreamMonitor(engine, resume=[resumed]), np.concatenate([songs[1][: int(20 * RATE)]]))
    assert kinds(events) == [("ended", 8), ("started", 1), ("ended", 1)]
    [(heard, ended)] = [(heard, e) for heard, e in events if e.sighting.track_id == 8]
    assert ended.sighting == resumed and heard <= 12


def watch_without_finish(monitor: StreamMonitor, stream: np.ndarray) -> list[tuple[float, MonitorEvent]]:
    events = []
    for at in range(0, stream.size, RATE // 2):
        events += [(monitor.heard_s, e) for e in monitor.push(stream[at : at + RATE // 2])]
    return events


def shift(sighting: Sighting, seconds: float) -> Sighting:
    return replace(sighting, start_s=sighting.start_s + seconds, end_s=sighting.end_s + seconds)


def test_unknown_music_noise_and_silence_start_nothing(engine):
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(int(60 * RATE)).astype(np.float32) * 0.1
    hum = 0.3 * np.sin(2 * np.pi * 100 * np.arange(int(30 * RATE)) / RATE).astype(np.float32)
    stream = np.concatenate(
        [unknown_song(seed, 45) for seed in (101, 102, 103, 104)] + [noise, silence(30), hum, unknown_song(105, 45)]
    )
    assert watch(StreamMonitor(engine), stream) == []


def test_memory_stays_flat_and_a_restarted_fingerprinter_keeps_the_play(engine, songs):
    # Restarting every 20 s: a song that spans three restarts is one play, as without them.
    stream = np.concatenate([silence(5), songs[2], silence(15)])
    plain = [e for _, e in watch(StreamMonitor(engine), stream)]
    restarted = [e for _, e in watch(StreamMonitor(engine, restart_every_s=20), stream)]
    assert [e.kind for e in restarted] == [e.kind for e in plain] and kinds([(0, e) for e in plain])[0] == (
        "started",
        2,
    )
    for a, b in zip(plain, restarted, strict=True):
        assert near(a.sighting.start_s, b.sighting.start_s, 0.05) and near(a.sighting.end_s, b.sighting.end_s, 0.05)
    # Over 12 minutes of songs, restarted every 30 s, what the monitor holds stays flat.
    monitor = StreamMonitor(engine, restart_every_s=30)
    sizes = []
    for seed in [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4]:
        watch_without_finish(monitor, songs[seed])
        sizes.append(monitor.state_size())
    assert max(sizes[4:]) < 1.5 * np.median(sizes[:4]), sizes


def test_a_restarted_fingerprinter_gives_every_hash_once_as_one_fingerprinter_would(songs):
    stream = np.concatenate([songs[1], songs[2]])
    one, restarted = fp.StreamingFingerprinter(fp.QUERY), RestartingFingerprinter(fp.QUERY, every_s=5)
    heard: dict[str, list] = {"one": [], "restarted": []}
    for at in range(0, stream.size, 3000):
        piece = one.push(stream[at : at + 3000])
        heard["one"].append((piece.hashes, piece.offsets.astype(np.float64)))
        heard["restarted"].append(restarted.push(stream[at : at + 3000]))
    last = one.finish()
    heard["one"].append((last.hashes, last.offsets.astype(np.float64)))
    heard["restarted"].append(restarted.finish())
    keys = {
        name: np.sort(
            np.concatenate([np.rint(o * 4).astype(np.int64) << 32 | h.astype(np.int64) & 0xFFFFFFFF for h, o in parts])
        )
        for name, parts in heard.items()
    }
    # 13 restarts, each overlapping its predecessor for 8 s: no stretch lost or doubled, and
    # but for float32 rounding of a spectrogram cut elsewhere, the same hashes.
    n = keys["one"].size
    assert n > 100_000 and abs(keys["restarted"].size - n) < n / 1000
    assert np.setdiff1d(keys["one"], keys["restarted"]).size < n / 1000


def test_a_resumed_play_whose_clock_is_a_second_off_still_goes_on(engine, songs):
    """Another worker's clock puts a resumed play up to a second or two off its audio."""
    song = songs[8]
    before = StreamMonitor(engine)
    open_play = [e.sighting for _, e in watch_without_finish(before, song[: int(20 * RATE)])][-1]
    for clock_error_s in (-1.2, 1.2):
        resumed = shift(open_play, -20.0 + clock_error_s)
        events = watch(StreamMonitor(engine, resume=[resumed]), np.concatenate([song[int(20 * RATE) :], silence(15)]))
        assert [e.kind for _, e in events] == ["extended"] * (len(events) - 1) + ["ended"], clock_error_s
