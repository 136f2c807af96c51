"""Judge a monitor run: which plays were detected, how soon and how exactly, and what was detected wrongly.

Pure functions over plain records, so they can be checked without streams or a database. Every time
is a Unix epoch in seconds on this machine's clock (the stream servers, the worker and the poller
run side by side on it).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

# A detection belongs to a play of its track when their spans overlap, give or take this much
# (the engine may close a play a gap after it stopped, and start it a little early at a crossfade).
OVERLAP_SLACK_S = 5.0
# A play is judged only when the monitor heard all of it, with this margin before (the connection
# settling) and after (time for the detection to close).
SETTLE_S = 5.0
CLOSE_WAIT_S = 25.0


@dataclass(frozen=True)
class Play:
    """One playlist item as it went on air: what, where in the track, and when."""

    monitor_id: int
    kind: str  # "catalog", "unknown" (music never indexed), "speech", "silence"
    path: str  # the corpus file ("" for speech and silence)
    offset_s: float  # position in the file at start_at
    start_at: float  # airtime of its first sample (the middle of a crossfade into it)
    end_at: float  # airtime of its last (the middle of a crossfade out of it)
    stream: str = ""  # "mp3" or "hls"
    # When its first byte could reach a listener: its airtime on a paced stream; on HLS, when the
    # segment holding it was published (None: the airtime).
    sent_at: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_at - self.start_at


@dataclass(frozen=True)
class Seen:
    """One detection row as the poller saw it."""

    detection_id: int
    monitor_id: int
    path: str  # the corpus file of its track ("" when the track is not a corpus file)
    started_at: float
    ended_at: float
    offset_start_s: float
    open: bool
    created_at: float  # when the worker wrote the row (its clock; the commit follows at once)
    visible_at: float | None = None  # first API poll that returned it


@dataclass(frozen=True)
class Window:
    """When a monitor was listening: from its first audio to the end of the phase."""

    monitor_id: int
    start_at: float
    end_at: float


@dataclass
class Judged:
    play: Play
    detections: list[Seen] = field(default_factory=list)  # rows naming the play's own file
    versions: list[Seen] = field(default_factory=list)  # rows naming another indexed version of it

    @property
    def found(self) -> bool:
        return bool(self.detections or self.versions)

    def first(self, attribute: str, *, own: bool = False) -> float | None:
        rows = self.detections if own else self.detections + self.versions
        values = [getattr(d, attribute) for d in rows if getattr(d, attribute) is not None]
        return min(values) if values else None


SameRecording = Callable[[str, float, str, float], bool]


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile by nearest rank (None for no values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _overlaps(detection: Seen, play: Play) -> bool:
    return detection.started_at < play.end_at + OVERLAP_SLACK_S and detection.ended_at > play.start_at - OVERLAP_SLACK_S


def _same(detection: Seen, play: Play, same_recording: SameRecording | None) -> bool:
    """Whether the detection names the play's own recording (its file, or a version of it)."""
    if not play.path or not detection.path:
        return False
    if detection.path == play.path:
        return True
    if same_recording is None:
        return False
    at = max(detection.started_at, play.start_at)
    return same_recording(
        play.path,
        play.offset_s + at - play.start_at,
        detection.path,
        detection.offset_start_s + at - detection.started_at,
    )


def judged_in(play: Play, windows: dict[int, Window]) -> bool:
    """Whether a play counts: the monitor heard it whole, and had time to close its detection."""
    window = windows.get(play.monitor_id)
    return (
        window is not None
        and play.start_at >= window.start_at + SETTLE_S
        and play.end_at + CLOSE_WAIT_S <= window.end_at
    )


def exposure_s(plays: list[Play], windows: dict[int, Window], kind: str) -> float:
    """Seconds of `kind` on air while its monitor listened, over all monitors."""
    total = 0.0
    for play in plays:
        window = windows.get(play.monitor_id)
        if play.kind == kind and window is not None:
            total += max(0.0, min(play.end_at, window.end_at) - max(play.start_at, window.start_at))
    return total


def judge(
    plays: list[Play],
    detections: list[Seen],
    windows: dict[int, Window],
    *,
    min_play_s: float = 20.0,
    same_recording: SameRecording | None = None,
) -> dict:
    """Score detections against the plays that went on air; return the figures of one run."""
    by_monitor: dict[int, list[Play]] = {}
    for play in plays:
        by_monitor.setdefault(play.monitor_id, []).append(play)
    catalog = [p for p in plays if p.kind == "catalog"]
    outcome = {id(p): Judged(p) for p in catalog}
    unmatched: list[Seen] = []
    for detection in detections:
        plays_here = [p for p in by_monitor.get(detection.monitor_id, []) if p.kind == "catalog"]
        owners = [p for p in plays_here if _overlaps(detection, p) and detection.path == p.path]
        if owners:
            # The play it overlaps most (a track played twice in a row is avoided by the playlists).
            outcome[id(max(owners, key=lambda p: _overlap_s(detection, p)))].detections.append(detection)
            continue
        versions = [p for p in plays_here if _overlaps(detection, p) and _same(detection, p, same_recording)]
        if versions:
            outcome[id(max(versions, key=lambda p: _overlap_s(detection, p)))].versions.append(detection)
        else:
            unmatched.append(detection)
    counted = [j for j in outcome.values() if judged_in(j.play, windows) and j.play.duration_s >= min_play_s]
    found = [j for j in counted if j.found]
    latency = [j.first("created_at") - _sent(j.play) for j in found]  # type: ignore[operator]
    visible = [j.first("visible_at") - _sent(j.play) for j in found if j.first("visible_at") is not None]  # type: ignore[operator]
    own = [j for j in found if j.detections]
    start_error = [j.first("started_at", own=True) - j.play.start_at for j in own]  # type: ignore[operator]
    closed = [j for j in own if not any(d.open for d in j.detections)]
    end_error = [max(d.ended_at for d in j.detections) - j.play.end_at for j in closed]
    firsts = [min(j.detections, key=lambda d: d.started_at) for j in own]
    # Where the row puts the song's start in the track, and how far its wall clock is from the
    # station's: the airtime of the audio at `offset_start_s`, against `started_at`.
    offset_error = [d.offset_start_s - j.play.offset_s for j, d in zip(own, firsts, strict=True)]
    clock_error = [
        d.started_at - (j.play.start_at + d.offset_start_s - j.play.offset_s) for j, d in zip(own, firsts, strict=True)
    ]
    false = [_false(d, by_monitor.get(d.monitor_id, [])) for d in unmatched if _in_window(d, windows)]
    return {
        "plays": len(counted),
        "plays_by_stream": _count(j.play.stream for j in counted),
        "detected": len(found),
        "missed": len(counted) - len(found),
        "missed_plays": [_describe(j.play) for j in counted if not j.found],
        "split_plays": sum(len(j.detections) > 1 for j in found),
        "version_rows": sum(len(j.versions) for j in found),
        "plays_found_only_as_another_version": sum(not j.detections for j in found),
        "latency_s": _spread(latency),
        "latency_s_by_stream": {
            stream: _spread([lat for j, lat in zip(found, latency, strict=True) if j.play.stream == stream])
            for stream in sorted({j.play.stream for j in found})
        },
        "visible_s": _spread(visible),
        "start_error_s_by_stream": _by_stream(own, start_error),
        "offset_start_error_s": _spread(offset_error, signed=True),
        "clock_error_s_by_stream": _by_stream(own, clock_error),
        "end_error_s_by_stream": _by_stream(closed, end_error),
        "start_error_s": _spread(start_error, signed=True),
        "end_error_s": _spread(end_error, signed=True),
        "false_detections": len(false),
        "false_by_kind": _count(f["during"] for f in false),
        "false": false[:50],
        "exposure_s": {kind: round(exposure_s(plays, windows, kind), 1) for kind in ("unknown", "speech", "silence")},
        "catalog_on_air_s": round(exposure_s(plays, windows, "catalog"), 1),
    }


def _sent(play: Play) -> float:
    return play.start_at if play.sent_at is None else play.sent_at


def _by_stream(judged: list[Judged], errors: list[float]) -> dict:
    streams = sorted({j.play.stream for j in judged})
    return {
        stream: _spread([e for j, e in zip(judged, errors, strict=True) if j.play.stream == stream], signed=True)
        for stream in streams
    }


def _overlap_s(detection: Seen, play: Play) -> float:
    return min(play.end_at, detection.ended_at) - max(play.start_at, detection.started_at)


def _in_window(detection: Seen, windows: dict[int, Window]) -> bool:
    window = windows.get(detection.monitor_id)
    return window is not None and window.start_at <= detection.started_at <= window.end_at


def _false(detection: Seen, plays: list[Play]) -> dict:
    """What was on air when a detection matched no play of its track."""
    at = detection.started_at + 2  # a little into it: a row may start in the crossfade before a song
    on_air = [p for p in plays if p.start_at <= at < p.end_at] or [
        p for p in plays if p.start_at - OVERLAP_SLACK_S <= at < p.end_at + OVERLAP_SLACK_S
    ]
    during = on_air[0].kind if on_air else "nothing"
    return {
        "detection_id": detection.detection_id,
        "monitor_id": detection.monitor_id,
        "detected": detection.path,
        "during": during,
        "playing": on_air[0].path if on_air else "",
        "playing_offset_s": round(on_air[0].offset_s + at - on_air[0].start_at, 1) if on_air else None,
        "detected_offset_s": round(detection.offset_start_s + 2, 1),
        "duration_s": round(detection.ended_at - detection.started_at, 1),
    }


def _describe(play: Play) -> dict:
    return {
        "monitor_id": play.monitor_id,
        "path": play.path,
        "offset_s": round(play.offset_s, 1),
        "duration_s": round(play.duration_s, 1),
        "stream": play.stream,
    }


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _spread(values: list[float], *, signed: bool = False) -> dict:
    """p50 and p95 (of the absolute values when `signed`, with the signed median beside them)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    magnitudes = [abs(v) for v in values] if signed else values
    spread = {
        "n": len(values),
        "p50": round(statistics.median(magnitudes), 2),
        "p95": round(percentile(magnitudes, 95) or 0.0, 2),
        "max": round(max(magnitudes), 2),
    }
    if signed:
        spread["median_signed"] = round(statistics.median(values), 2)
        spread["within_1s"] = round(100 * sum(abs(v) <= 1.0 for v in values) / len(values), 1)
    return spread
