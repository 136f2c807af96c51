"""Study of the stream monitor (recognition/engine/monitoring/) on real music, engine only.

    .venv/bin/python -m bench.studies.monitor_engine --hours 1.3 --unseen-hours 4
    .venv/bin/python -m bench.studies.monitor_engine --hours 0.5 --unseen-hours 1 --tuning window_s=8,gap_s=10
    .venv/bin/python -m bench.studies.monitor_engine --hours 0.01 --unseen-hours 4 --margin

The corpus's distinct files (bench/corpus.py) are split by source (`split_files`): 45 tracks
(84 min) are indexed in a MemoryIndex, 30 (4 h) never are. Two streams are
made at the engine rate and pushed into a StreamMonitor in pieces of 0.25-1 s:

- the playlist stream: plays of indexed tracks (whole, or 30-150 s from the start or from
  anywhere, faded out when cut), between never-indexed music, speech-like babble and silence,
  music joined to music by a crossfade of 1-4 s three times in five; some plays talked over
  for 5-8 s (babble at 0 dB over the song) or under light noise. A play's truth is where its
  samples lie in the stream;
- the unseen stream: every never-indexed file whole, joined the same way, with babble and
  silence between: every "started" there is false unless `bench/versions.py` finds the named
  track's audio at the answered offset to be the same recording.

Reported: audio from a play's start to its "started" (p50/p95), start and end errors, plays
missed and plays split in two, false "started" per hour of never-indexed music, CPU seconds per
stream-hour; with `--margin`, the best bound any track reached at one look, decision by
decision, on the unseen stream. Written to bench/results/monitor_engine.json (or `--out`).
For choosing, not for quoting.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import signal

from bench import OUT, RESULTS, corpus, versions
from recognition.engine import Identifier, MemoryIndex, MonitorEvent, StreamMonitor
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.matching import MatchParams
from recognition.engine.monitoring import MONITOR_LOOKS, evidence

RATE = corpus.ENGINE_RATE
UNSEEN_SOURCE = "/warzone2100/"


@dataclass
class Piece:
    """A stretch of a stream: its samples, where it starts, and for a file its path and offset."""

    samples: np.ndarray
    start_s: float
    path: str | None = None
    offset_s: float = 0.0
    track_id: int | None = None
    talked_over: bool = False


def split_files(files: list[dict]) -> tuple[list[dict], list[dict]]:
    """(indexed, unseen): Drascula's, ASC's and HyperRogue's soundtracks are indexed, Warzone
    2100's three albums and menu theme never are. The split is by source, not by file: Warzone's
    albums reuse their own loops and stems from file to file (a never-indexed track plays minutes
    of an indexed one's material, mixed with other parts), which a monitor rightly reports."""
    unseen = [f for f in files if UNSEEN_SOURCE in f["path"]]
    return [f for f in files if UNSEEN_SOURCE not in f["path"]], unseen


def babble(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound: voiced syllables (a pulse train at a moving pitch through two formants)
    and unvoiced ones (filtered noise), 3-6 a second, with pauses."""
    out = np.zeros(int(seconds * RATE), np.float32)
    t = 0.0
    while t < seconds:
        length = rng.uniform(0.08, 0.3)
        n = int(length * RATE)
        at = int(t * RATE)
        if rng.random() < 0.7:
            f0 = rng.uniform(90, 250) * np.linspace(1, rng.uniform(0.85, 1.15), n)
            phase = np.cumsum(f0 / RATE)
            source = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
        else:
            source = rng.standard_normal(n) * 0.1
        for formant in (rng.uniform(300, 900), rng.uniform(900, 2500)):
            b, a = signal.iirpeak(formant, 8, fs=RATE)
            source = source + signal.lfilter(b, a, source)
        envelope = np.sin(np.linspace(0, np.pi, n)) ** 2
        piece = (source * envelope)[: out.size - at]
        out[at : at + piece.size] += piece.astype(np.float32)
        t += length + (rng.uniform(0.3, 1.0) if rng.random() < 0.15 else rng.uniform(0.0, 0.08))
    return (out / (np.abs(out).max() + 1e-9) * 0.5).astype(np.float32)


def faded(x: np.ndarray, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    x = x.copy()
    fade_in, fade_out = min(int(fade_in_s * RATE), x.size), min(int(fade_out_s * RATE), x.size)
    if fade_in:
        x[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    if fade_out:
        x[-fade_out:] *= np.linspace(1, 0, fade_out, dtype=np.float32)
    return x


def level(x: np.ndarray, rms: float) -> np.ndarray:
    return (x * (rms / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9))).astype(np.float32)


class StreamBuilder:
    """Pieces laid end to end, music on music joined by a crossfade."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.pieces: list[Piece] = []
        self.end_s = 0.0
        self._last_music = False

    def add(
        self, x: np.ndarray, *, music: bool, path: str | None = None, offset_s: float = 0.0, track_id=None
    ) -> Piece:
        overlap = 0.0
        if music and self._last_music and self.rng.random() < 0.6:
            overlap = float(self.rng.uniform(1.0, 4.0))
            previous = self.pieces[-1]
            previous.samples = faded(previous.samples, 0, overlap)
        if overlap:
            x = faded(x, overlap, 0)
        piece = Piece(x, self.end_s - overlap, path, offset_s, track_id)
        self.pieces.append(piece)
        self.end_s = piece.start_s + x.size / RATE
        self._last_music = music
        return piece

    def samples(self) -> np.ndarray:
        out = np.zeros(int(np.ceil(self.end_s * RATE)) + 1, np.float32)
        for p in self.pieces:
            at = round(p.start_s * RATE)
            out[at : at + p.samples.size] += p.samples[: out.size - at]
        return out


def music_piece(path: str, rng: np.random.Generator, *, whole: bool) -> tuple[np.ndarray, float]:
    x = corpus.decoded(path)
    duration = x.size / RATE
    if whole or duration <= 40:
        return level(x, rng.uniform(0.05, 0.2)), 0.0
    length = float(min(duration, rng.uniform(30, 150)))
    start = 0.0 if rng.random() < 0.7 or length >= duration - 1 else float(rng.uniform(0, duration - length))
    cut = x[int(start * RATE) : int((start + length) * RATE)]
    ends_early = start + length < duration - 0.5
    return level(faded(cut, 0, 2.0 if ends_early else 0), rng.uniform(0.05, 0.2)), start


def filler(builder: StreamBuilder, rng: np.random.Generator, unseen: list[dict]) -> None:
    kind = rng.choice(["unseen", "babble", "silence", "none"], p=[0.25, 0.25, 0.2, 0.3])
    if kind == "unseen":
        f = unseen[int(rng.integers(len(unseen)))]
        x, offset = music_piece(f["path"], rng, whole=False)
        builder.add(x[: int(rng.uniform(20, 60) * RATE)], music=True, path=f["path"], offset_s=offset)
    elif kind == "babble":
        builder.add(babble(rng.uniform(3, 12), rng) * rng.uniform(0.2, 1.0), music=False)
    elif kind == "silence":
        builder.add(np.zeros(int(rng.uniform(1, 6) * RATE), np.float32), music=False)


def playlist_stream(
    indexed: list[dict], ids: dict[str, int], unseen: list[dict], hours: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[Piece], list[Piece]]:
    builder = StreamBuilder(rng)
    plays = []
    while builder.end_s < hours * 3600:
        filler(builder, rng, unseen)
        f = indexed[int(rng.integers(len(indexed)))]
        x, offset = music_piece(f["path"], rng, whole=False)
        if x.size < 20 * RATE:
            continue
        talked_over = rng.random() < 0.3 and x.size > 30 * RATE
        if talked_over:
            at, n = int(rng.uniform(12, x.size / RATE - 12) * RATE), int(rng.uniform(5, 8) * RATE)
            x = x.copy()
            x[at : at + n] += level(babble(n / RATE, rng), float(np.sqrt(np.mean(x[at : at + n] ** 2))) * 1.0)
        elif rng.random() < 0.2:  # light noise
            x = x + level(rng.standard_normal(x.size).astype(np.float32), float(np.sqrt(np.mean(x**2))) * 0.1)
        plays.append(builder.add(x, music=True, path=f["path"], offset_s=offset, track_id=ids[f["path"]]))
        plays[-1].talked_over = talked_over
    return builder.samples(), plays, [p for p in builder.pieces if p.path]


def unseen_stream(unseen: list[dict], hours: float, rng: np.random.Generator) -> tuple[np.ndarray, list[Piece]]:
    builder = StreamBuilder(rng)
    order = list(unseen)
    rng.shuffle(order)
    for f in order:
        if builder.end_s >= hours * 3600:
            break
        if rng.random() < 0.3:
            builder.add(babble(rng.uniform(3, 15), rng) * rng.uniform(0.2, 1.0), music=False)
        elif rng.random() < 0.2:
            builder.add(np.zeros(int(rng.uniform(1, 6) * RATE), np.float32), music=False)
        x, _ = music_piece(f["path"], rng, whole=True)
        builder.add(x, music=True, path=f["path"])
    return builder.samples(), [p for p in builder.pieces if p.path]


def run(
    monitor: StreamMonitor, stream: np.ndarray, rng: np.random.Generator
) -> tuple[list[tuple[float, MonitorEvent]], float]:
    """Push the stream in pieces of 0.25-1 s; return (heard_s, event) pairs and the CPU seconds."""
    events = []
    cpu = 0.0
    at = 0
    while at < stream.size:
        n = int(rng.uniform(0.25, 1.0) * RATE)
        piece = (np.clip(stream[at : at + n], -1, 1) * 32767).astype(np.int16)
        t = time.process_time()
        got = monitor.push(piece)
        cpu += time.process_time() - t
        at += n
        events += [(monitor.heard_s, e) for e in got]
    t = time.process_time()
    events += [(monitor.heard_s, e) for e in monitor.finish()]
    return events, cpu + time.process_time() - t


def sightings(events: list[tuple[float, MonitorEvent]]) -> list[dict]:
    """One entry per play the monitor reported: when it said "started", and its last sighting."""
    plays: dict[tuple[int, float], dict] = {}
    for heard, e in events:
        key = (e.sighting.track_id, e.sighting.start_s)
        if e.kind == "started":
            plays[key] = {"started_at_s": heard, "first": e.sighting, "last": e.sighting}
        elif key in plays:
            plays[key]["last"] = e.sighting
    return list(plays.values())


def covering(pieces: list[Piece], at_s: float) -> Piece | None:
    inside = [p for p in pieces if p.path and p.start_s <= at_s < p.start_s + p.samples.size / RATE]
    return inside[-1] if inside else None


def same_recording(pieces: list[Piece], s, paths: dict[int, str]) -> bool:
    """Whether a sighting's track holds, at its offset, the audio the stream played there (at
    any of a few places in it: a quiet intro may correlate poorly)."""
    for at in np.linspace(s.start_s, max(s.start_s, s.end_s - 5), 4):
        source = covering(pieces, at)
        if source is None or source.path is None:
            continue
        source_s = source.offset_s + at - source.start_s
        offset = s.offset_start_s + at - s.start_s
        if versions.same_recording(source.path, source_s, paths[s.track_id], offset, 5.0):
            return True
    return False


def score(plays: list[Piece], found: list[dict], pieces: list[Piece], paths: dict[int, str]) -> dict:
    used: set[int] = set()
    delays, start_err, end_err, offset_err, missed, split, rows = [], [], [], [], [], 0, []
    for play in plays:
        end = play.start_s + play.samples.size / RATE
        mine = [
            i
            for i, f in enumerate(found)
            if f["first"].track_id == play.track_id and f["first"].start_s < end and f["last"].end_s > play.start_s - 1
        ]
        if not mine:
            missed.append(
                {"path": play.path, "start_s": round(play.start_s, 2), "length_s": round(end - play.start_s, 1)}
            )
            continue
        used.update(mine)
        split += len(mine) - 1
        first = found[mine[0]]
        delays.append(first["started_at_s"] - play.start_s)
        start_err.append(first["first"].start_s - play.start_s)
        offset_err.append(first["first"].offset_start_s - play.offset_s)
        end_err.append(found[mine[-1]]["last"].end_s - end)
        rows.append(
            [Path(play.path or "").name, round(play.start_s, 2), round(play.offset_s, 1), round(end - play.start_s, 1),
             round(delays[-1], 2), round(start_err[-1], 2), round(end_err[-1], 2), len(mine)]
        )  # fmt: skip
    others = [f for i, f in enumerate(found) if i not in used]
    false = [f for f in others if not same_recording(pieces, f["first"], paths)]
    return {
        "plays": len(plays),
        "talked_over": sum(p.talked_over for p in plays),
        "missed": len(missed),
        "missed_plays": missed,
        "split": split,
        "to_started_s": summary(delays),
        "start_error_s": summary(start_err),
        "end_error_s": summary(end_err),
        "offset_error_s": summary(offset_err),
        "within_1s": {
            "start": float(np.mean(np.abs(start_err) <= 1)) if start_err else None,
            "end": float(np.mean(np.abs(end_err) <= 1)) if end_err else None,
        },
        "other_tracks": len(others),
        "false_started": [describe(f, pieces, paths) for f in false],
        "each_play": {
            "columns": [
                "file",
                "start_s",
                "offset_s",
                "length_s",
                "to_started_s",
                "start_error_s",
                "end_error_s",
                "sightings",
            ],
            "rows": rows,
        },
    }


def describe(f: dict, pieces: list[Piece], paths: dict[int, str]) -> dict:
    """A sighting, with the file the stream played where it started."""
    s = f["last"]
    source = covering(pieces, s.start_s + 0.5)
    return {
        "track": Path(paths[s.track_id]).name, "start_s": round(s.start_s, 2), "end_s": round(s.end_s, 2),
        "offset_start_s": round(s.offset_start_s, 2),
        "log10_p": round(float(np.log10(max(1 - s.confidence, 1e-300))), 1),
        "played": None if source is None else Path(source.path or "").name,
        "played_offset_s": None if source is None else round(source.offset_s + s.start_s - source.start_s, 2),
    }  # fmt: skip


def summary(values: list[float]) -> dict:
    if not values:
        return {}
    v = np.asarray(values)
    return {
        "p50": round(float(np.median(v)), 2),
        "p95": round(float(np.percentile(v, 95)), 2),
        "abs_p50": round(float(np.median(np.abs(v))), 2),
        "abs_p95": round(float(np.percentile(np.abs(v), 95)), 2),
        "min": round(float(v.min()), 2),
        "max": round(float(v.max()), 2),
    }


def record_bounds() -> dict[str, list[float]]:
    """From now on, record each decision's best bound on landmarks and on sketches at one look
    and with the threshold off (the decisions themselves are unchanged; the CPU figure is not)."""
    bounds: dict[str, list[float]] = {"landmarks": [], "sketches": []}
    sure_tracks, sure_on_sketches = evidence.sure_tracks, evidence.sure_on_sketches
    loose = replace(MatchParams(), max_false_match_rate=1.0)

    def tracks_watched(engine, *args, **kwargs):
        found = sure_tracks(replace(engine, match_params=loose), *args, **{**kwargs, "looks": 1})
        bounds["landmarks"].append(min((f.log10_p for f in found), default=0.0))
        return sure_tracks(engine, *args, **kwargs)

    def sketches_watched(engine, *args, **kwargs):
        found = sure_on_sketches(replace(engine, match_params=loose), *args, **{**kwargs, "looks": 1, "known": []})
        bounds["sketches"].append(0.0 if found is None else found.log10_p)
        return sure_on_sketches(engine, *args, **kwargs)

    evidence.sure_tracks, evidence.sure_on_sketches = tracks_watched, sketches_watched
    return bounds


def margin_summary(bounds: dict[str, list[float]], tracks: int) -> dict:
    """The smallest bounds at one look, against the threshold each decision must clear."""
    out: dict = {"decisions": len(bounds["landmarks"])}
    for kind, values in bounds.items():
        v = np.sort(np.asarray(values))
        out[kind] = {"smallest_log10_p": [round(float(x), 2) for x in v[:5]], "median": round(float(np.median(v)), 2)}
    for looks in (1, 100, MONITOR_LOOKS):
        out[f"threshold_at_{looks}_looks"] = round(float(np.log10(MatchParams().max_false_match_rate / looks)), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0, help="of the playlist stream")
    parser.add_argument("--unseen-hours", type=float, default=3.0, help="of never-indexed music, at most all of it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tuning", default="", help="StreamMonitor keywords: name=value,name=value")
    parser.add_argument("--out", type=Path, default=RESULTS / "monitor_engine.json")
    parser.add_argument(
        "--margin",
        action="store_true",
        help="also record, decision by decision on the unseen stream, the best bound at one look",
    )
    args = parser.parse_args()
    tuning = {k: ast.literal_eval(v) for k, v in (item.split("=") for item in args.tuning.split(",") if item)}
    manifest = corpus.load_or_build(OUT / "corpus.json")
    files = [f for kind in ("indexed", "held_out", "foreign") for f in manifest[kind] if f["duration_s"] >= 20]
    indexed, unseen = split_files(files)
    ids = {f["path"]: i + 1 for i, f in enumerate(indexed)}
    paths = {i: p for p, i in ids.items()}
    index = MemoryIndex()
    for f in indexed:
        x = corpus.decoded(f["path"])
        index.add(ids[f["path"]], fp.fingerprint(x, fp.REFERENCE), sk.sketch(x))
    engine = Identifier(index)
    rng = np.random.default_rng(args.seed)
    playlist, plays, pieces = playlist_stream(indexed, ids, unseen, args.hours, rng)
    events, cpu = run(StreamMonitor(engine, **tuning), playlist, rng)
    found = sightings(events)
    result = score(plays, found, pieces, paths)
    unseen_audio, unseen_pieces = unseen_stream(unseen, args.unseen_hours, rng)
    bounds = record_bounds() if args.margin else None
    unseen_events, unseen_cpu = run(StreamMonitor(engine, **tuning), unseen_audio, rng)
    unseen_found = sightings(unseen_events)
    false_unseen = [f for f in unseen_found if not same_recording(unseen_pieces, f["first"], paths)]
    unseen_music_h = sum(p.samples.size for p in unseen_pieces) / RATE / 3600
    stream_h = (playlist.size + unseen_audio.size) / RATE / 3600
    report = {
        "command": " ".join(["python -m bench.studies.monitor_engine", *sys.argv[1:]]),
        "tuning": tuning,
        "indexed_tracks": len(indexed),
        "unseen_tracks": len(unseen),
        "playlist_hours": round(playlist.size / RATE / 3600, 3),
        "playlist": result,
        "unseen_stream_hours": round(unseen_audio.size / RATE / 3600, 3),
        "unseen_music_hours": round(unseen_music_h, 3),
        "unseen_started": len(unseen_found),
        "unseen_false_started": [describe(f, unseen_pieces, paths) for f in false_unseen],
        "false_started_per_unseen_hour": round(len(false_unseen) / unseen_music_h, 3),
        "cpu_s_per_stream_hour": round((cpu + unseen_cpu) / stream_h, 1),
    }
    if bounds is not None:
        report["margin"] = margin_summary(bounds, len(indexed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    brief = {k: v for k, v in report.items() if k != "playlist"}
    brief["playlist"] = {k: v for k, v in result.items() if k not in ("missed_plays", "each_play")}
    print(json.dumps(brief, indent=1))


if __name__ == "__main__":
    main()
