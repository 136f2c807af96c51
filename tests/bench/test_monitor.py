"""bench.monitor: plays are judged against what went on air, and playlists are drawn as described."""

import pytest

from bench.monitor import playlists, scoring
from bench.monitor.scoring import Play, Seen, Window, judge

T0 = 1_000_000.0


def play(monitor=1, kind="catalog", path="a.ogg", start=20.0, length=30.0, stream="mp3", sent=None, offset=10.0):
    return Play(monitor, kind, path, offset, T0 + start, T0 + start + length, stream, sent)


def seen(detection_id, path="a.ogg", start=20.0, end=50.0, created=22.0, visible=None, monitor=1, is_open=False):
    return Seen(detection_id, monitor, path, T0 + start, T0 + end, 10.0, is_open, T0 + created,
                None if visible is None else T0 + visible)  # fmt: skip


WINDOWS = {1: Window(1, T0, T0 + 300), 2: Window(2, T0, T0 + 300)}


def test_a_detected_play_gives_its_delay_and_errors():
    plays = [play(), play(kind="unknown", path="u.ogg", start=50, length=40)]
    result = judge(plays, [seen(1, start=20.5, end=49.0, created=22.5, visible=23.0)], WINDOWS)
    assert (result["plays"], result["detected"], result["missed"], result["false_detections"]) == (1, 1, 0, 0)
    assert result["latency_s"]["p50"] == pytest.approx(2.5)
    assert result["visible_s"]["p50"] == pytest.approx(3.0)
    assert result["start_error_s"]["median_signed"] == pytest.approx(0.5)
    assert result["end_error_s"]["median_signed"] == pytest.approx(-1.0)
    assert result["start_error_s"]["within_1s"] == 100.0
    assert result["exposure_s"]["unknown"] == pytest.approx(40.0)


def test_a_play_without_its_track_is_missed_and_a_stray_detection_is_false():
    plays = [play(), play(kind="unknown", path="u.ogg", start=50, length=40)]
    result = judge(plays, [seen(1, path="b.ogg", start=55, end=80, created=57)], WINDOWS)
    assert result["missed"] == 1
    assert result["missed_plays"][0]["path"] == "a.ogg"
    assert result["false_detections"] == 1
    assert result["false_by_kind"] == {"unknown": 1}


def test_a_play_in_two_rows_is_split_and_counted_once():
    result = judge([play()], [seen(1, end=30, created=22), seen(2, start=35, end=50, created=37)], WINDOWS)
    assert (result["detected"], result["split_plays"], result["false_detections"]) == (1, 1, 0)
    assert result["latency_s"]["p50"] == pytest.approx(2.0)


def test_plays_the_monitor_did_not_hear_whole_are_not_judged():
    windows = {1: Window(1, T0 + 18, T0 + 300)}  # joined 2 s before the play: too late
    assert judge([play()], [], windows)["plays"] == 0
    windows = {1: Window(1, T0, T0 + 60)}  # the phase ended before the play could close
    assert judge([play()], [], windows)["plays"] == 0
    assert judge([play(length=15)], [], WINDOWS)["plays"] == 0  # shorter than 20 s


def test_hls_delay_runs_from_the_segment_publication():
    result = judge([play(stream="hls", sent=T0 + 21.5)], [seen(1, created=24.0)], WINDOWS)
    assert result["latency_s"]["p50"] == pytest.approx(2.5)
    assert result["latency_s_by_stream"]["hls"]["p50"] == pytest.approx(2.5)


def test_another_version_of_the_recording_is_not_false():
    plays = [play(path="menu.opus")]
    detections = [seen(1, path="menu_enhanced.opus")]
    assert judge(plays, detections, WINDOWS)["false_detections"] == 1
    same = judge(plays, detections, WINDOWS, same_recording=lambda *args: args[2] == "menu_enhanced.opus")
    assert (same["false_detections"], same["detected"]) == (0, 1)


def test_a_detection_on_another_monitor_does_not_count():
    result = judge([play()], [seen(1, monitor=2)], WINDOWS)
    assert (result["detected"], result["false_detections"]) == (0, 1)


def test_percentile_is_nearest_rank():
    assert scoring.percentile([], 95) is None
    assert scoring.percentile(list(range(1, 101)), 95) == 95


def test_a_station_opens_on_something_never_indexed_and_plays_whole_songs():
    indexed = [{"path": f"/c/{n}.ogg", "duration_s": 200.0} for n in range(10)]
    never = [{"path": f"/u/{n}.ogg", "duration_s": 200.0} for n in range(10)]
    plan = playlists.plan_station("s", 7, 600, indexed, never)
    assert plan == playlists.plan_station("s", 7, 600, indexed, never)  # seeded
    assert plan.items[0].kind in {"speech", "unknown"}
    assert plan.duration_s >= 600
    for before, item in zip(plan.items, plan.items[1:], strict=False):
        assert item.start_s == pytest.approx(before.start_s + before.duration_s, abs=0.02)
        assert not (item.fade_in and "" in (item.path, before.path))  # only music crossfades
    catalog = [i for i in plan.items if i.kind == "catalog"]
    assert catalog
    assert all(20 <= i.duration_s <= 40 and i.path.startswith("/c/") for i in catalog)
    assert all(i.offset_s >= playlists.CROSSFADE_S and i.offset_s + i.duration_s <= 198 for i in catalog)
