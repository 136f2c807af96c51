"""The StreamMonitor: a stream's samples in, the plays of catalog tracks it holds out, as events."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier
from recognition.engine.monitoring import evidence
from recognition.engine.monitoring.events import MonitorEvent, Sighting
from recognition.engine.monitoring.restarts import RestartingFingerprinter, joined

__all__ = ["MONITOR_LOOKS", "StreamMonitor"]

# A monitor decides every second, day and night, each time on audio it has mostly judged before;
# each decision counts as many looks as a day holds, so that a wrong track stays as unlikely in
# a day of stream as the threshold allows for one clip, and the bound does not tighten as the
# monitor ages (docs/decisions.md, MONITOR_LOOKS).
MONITOR_LOOKS = 86_400
# Seconds of stream between decisions.
DECIDE_EVERY_S = 1.0
# Seconds of recent votes each decision weighs: a play stays sure through a few quiet or covered
# seconds, and a track gone from the stream soon leaves the window (docs/decisions.md, WINDOW_S).
WINDOW_S = 10.0
# Seconds without a track after which its play has ended: a talk-over or a break of up to ~8 s,
# plus the second or two its votes take to come back, stays one play (docs/decisions.md, GAP_S).
GAP_S = 12.0
# A play still going on is reported at most this often (its logged end moves that often).
EXTEND_EVERY_S = 5.0
# Seconds after which the fingerprinter restarts: its float32 frame offsets stay exact to 1/128
# of a frame for an hour of frames (recognition/engine/monitoring/restarts.py).
RESTART_EVERY_S = 3600.0
# Seconds of the latest audio whose sketch is checked against the alignments its votes propose
# when the landmarks are not sure yet: a sketch frame is whole 64 ms after its audio where a
# landmark waits up to a second for its peaks to be final (docs/decisions.md, SKETCH_S).
SKETCH_S = 2.0
# Seconds of pairs kept to find where a play began when it was sure late.
HISTORY_S = 30.0
# Frames a play's alignment may move and stay the same play: a stream 0.3 % fast or slow moves
# it 6 frames a minute, followed decision by decision.
DRIFT_FRAMES = 8
# Seconds a resumed play's alignment may be off and stay the play: its times come from another
# worker's or connection's clock, each set from when audio arrived (a burst, a decoder's delay).
# A replay of the track differs by far more (make faults-monitor split plays at DRIFT_FRAMES).
RESUMED_DRIFT_S = 2.0
# Seconds of one alignment over which a play's speed is measured, from how its alignment moved.
SPEED_SPAN_S = 30.0
# A playing track heard at another alignment while its play is heard (beyond this overlap, in
# seconds) is a passage the track repeats, not a new play.
OVERLAP_S = 1.0
# Aligned votes further apart than this (seconds) do not chain into one play's start.
CHAIN_S = 3.0
# A play first heard this close (seconds) to its track's start began there, and one last heard
# this close to its track's end ended there: a track's first and last seconds are often too
# quiet for votes (a fade, a crossfade under its neighbour), so its heard edges fall short
# (docs/decisions.md, EDGE_S).
EDGE_S = 3.0


@dataclass
class _Play:
    """An open play: its identity, alignment (lag) and evidence so far, in stream frames."""

    track_id: int
    start_frame: float
    offset_start_frame: float
    lag: float
    last_frame: float
    log10_p: float
    speed: float | None
    segment: tuple[float, float]  # (stream frame, lag) where the current alignment began
    reported_frame: float  # last_frame when last reported
    reported_at: float  # stream frame of the last report
    given: Sighting | None = None  # a resumed play not heard since: reported as it was given


class StreamMonitor:
    """Turn a never-ending stream of samples into the plays of catalog tracks it holds.

    Each `push` fingerprints only the new audio. Every DECIDE_EVERY_S of stream the new triplets
    are looked up in every track, the window's triplets choose candidates, and the candidates'
    pairs and the triplets are decided on as Identifier.decide decides a clip, but track by
    track: every track sure in the window plays (a crossfade holds two), and sketches of the
    latest audio hurry a track just begun. A playing track's votes at its own alignment stay
    its play's, so a replay from the start is a play of its own. Memory and work per second stay
    bounded however long the stream runs: the window, the history of pairs, the sketches and the
    fingerprinter (restarted every RESTART_EVERY_S) are all of fixed length.

    `resume`: plays left open by a previous monitor of the same stream, in this monitor's
    seconds; one continues ("extended") if its track comes back within the gap with its offset
    carrying on, else it ends once the gap has passed. The keywords after it are the monitor's
    settings, each defaulting to the constant that explains it; `retain` keeps the stream's
    peaks for `take_peaks` (a monitor's retained history, recognition/engine/monitoring/history.py);
    `tracks` are candidates of every decision besides those its triplets choose (a replay of
    retained history searching a few new tracks).
    """

    def __init__(
        self,
        engine: Identifier,
        *,
        resume: Iterable[Sighting] = (),
        looks: int = MONITOR_LOOKS,
        decide_every_s: float = DECIDE_EVERY_S,
        window_s: float = WINDOW_S,
        gap_s: float = GAP_S,
        extend_every_s: float = EXTEND_EVERY_S,
        restart_every_s: float = RESTART_EVERY_S,
        sketch_s: float = SKETCH_S,
        history_s: float = HISTORY_S,
        retain: bool = False,
        tracks: Iterable[int] = (),
    ):
        self.engine = engine
        params = engine.params
        self._hop = params.hop_size
        self._fps = params.frames_per_second
        self._fingerprinter = RestartingFingerprinter(params, restart_every_s, keep_peaks=retain)
        self._replayed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # push_hashes: (final, hashes, offsets)
        self._decide_every = max(self._hop, round(decide_every_s * params.sample_rate_hz))
        self._looks = looks
        self._window = window_s * self._fps
        self._gap = gap_s * self._fps
        self._extend = extend_every_s * self._fps
        self._history_frames = history_s * self._fps
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # hashes since the last decision
        self._history: deque[tuple[np.ndarray, np.ndarray]] = deque()  # each decision's pairs
        self._triplet_hits = matching.Hits.empty()  # the window's, in every track
        self._pair_hits = matching.Hits.empty()  # the window's, in `_tracks`
        self._tracks = np.empty(0, np.int64)
        self._always = np.fromiter(tracks, np.int64)
        shifts = sk.SKETCH.query_shifts
        self._sketch_streams = [
            sk.StreamingSketch(skip_samples=s * sk.SKETCH.hop_size // shifts) for s in range(shifts)
        ]
        self._sketch_frames = round(sketch_s * self._fps) if engine.sketches else 0
        self._sketches = [np.empty(0, np.uint16) for _ in range(shifts)]  # each shift's latest frames
        self._sketched = [0] * shifts  # frames of each shift made so far
        self._plays: dict[int, _Play] = {}
        self._ended: list[tuple[int, float, float]] = []  # (track, lag, until): plays just ended
        self._heard = 0
        for s in resume:
            lag = (s.offset_end_s - s.end_s) * self._fps
            end = s.end_s * self._fps
            self._plays[s.track_id] = _Play(
                track_id=s.track_id,
                start_frame=s.start_s * self._fps,
                offset_start_frame=s.offset_start_s * self._fps,
                lag=lag,
                last_frame=end,
                log10_p=float(np.log10(max(1.0 - s.confidence, 1e-300))),
                speed=s.speed,
                segment=(end, lag),
                reported_frame=end,
                reported_at=-np.inf,
                given=s,
            )

    @property
    def heard_s(self) -> float:
        """Seconds of stream heard so far."""
        return self._heard / self.engine.params.sample_rate_hz

    def push(self, samples: np.ndarray) -> list[MonitorEvent]:
        """Add samples (float32, or int16, mono at the engine's rate); return the events they
        brought, decided every DECIDE_EVERY_S of stream whatever the size of the pieces."""
        samples = np.asarray(samples)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768
        samples = samples.astype(np.float32, copy=False).ravel()
        events: list[MonitorEvent] = []
        while samples.size:
            take = self._decide_every - self._heard % self._decide_every
            piece, samples = samples[:take], samples[take:]
            self._pending.append(self._fingerprinter.push(piece))
            if self._sketch_frames:
                self._sketch(piece)
            self._heard += piece.size
            if self._heard % self._decide_every == 0:
                events += self._decide()
        return events

    def take_peaks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Return the stream's peaks made final since the last call, per shift: (stream frames,
        bins, wide), what its hashes are made of (`retain` only)."""
        return self._fingerprinter.take_peaks()

    def push_hashes(self, hashes: np.ndarray, offsets: np.ndarray, samples: int) -> list[MonitorEvent]:
        """Add `samples` of stream fingerprinted before (a monitor's retained history, replayed):
        its `hashes` at `offsets` (this monitor's stream frames), each decided on once the audio of
        its last peak has been heard, as `push` decides on the hashes it makes. Use one of
        `push` and `push_hashes` on a monitor, not both."""
        dt_mask = (1 << self.engine.params.hash_bits[1]) - 1
        final = np.asarray(offsets, np.float64) + (np.asarray(hashes) & dt_mask)  # pair: dt; triplet: dt2
        order = np.argsort(final, kind="stable")
        parts = [(final[order], hashes[order], np.asarray(offsets, np.float64)[order])]
        if self._replayed is not None:
            parts.insert(0, self._replayed)
        self._replayed = tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[assignment]
        events: list[MonitorEvent] = []
        while samples > 0:
            take = min(samples, self._decide_every - self._heard % self._decide_every)
            self._heard += take
            samples -= take
            self._pending.append(self._replay_until(self._heard / self._hop))
            if self._heard % self._decide_every == 0:
                events += self._decide()
        return events

    def _replay_until(self, frame: float) -> tuple[np.ndarray, np.ndarray]:
        assert self._replayed is not None
        final, hashes, offsets = self._replayed
        n = int(np.searchsorted(final, frame, side="right"))
        self._replayed = (final[n:], hashes[n:], offsets[n:])
        return hashes[:n], offsets[:n]

    def finish(self) -> list[MonitorEvent]:
        """The stream has ended: decide on what is left and close every open play."""
        if self._replayed is not None:
            self._pending.append(self._replay_until(np.inf))
        else:
            self._pending.append(self._fingerprinter.finish())
        events = self._decide()
        now = self._heard / self._hop
        return events + [self._end(play, now) for play in list(self._plays.values())]

    def state_size(self) -> int:
        """Numbers the monitor holds (fingerprinter, window, history, sketches): flat however
        long the stream."""
        hits = 4 * (len(self._triplet_hits) + len(self._pair_hits))
        held = sum(h.size * 2 for h, _ in self._history)
        sketches = sum(f.size for f in self._sketches) + sum(s._buffer.size for s in self._sketch_streams)
        return self._fingerprinter.state_size() + hits + held + sketches

    def _decide(self) -> list[MonitorEvent]:
        engine = self.engine
        hashes, offsets = joined(self._pending)
        self._pending = []
        now = self._heard / self._hop
        start = now - self._window
        n_frames = max(1, int(min(self._window, now)))
        triplet = fp.is_triplet(hashes)
        pairs = fp.Fingerprints(hashes[~triplet], offsets[~triplet], n_frames)
        triplets = fp.Fingerprints(hashes[triplet], offsets[triplet], n_frames)
        window_pairs = self._pairs_since(start)
        self._history.append((pairs.hashes, pairs.offsets))
        while self._history and not (self._history[0][1] >= now - self._history_frames).any():
            self._history.popleft()
        # Stage 1 on the new triplets; candidates chosen on the window's; stage 2 on the new
        # pairs in the candidates and the window's pairs in a candidate new to them.
        new_triplets = engine.lookup_hits([triplets])[0]
        self._triplet_hits = evidence.since(matching.Hits.concatenate([self._triplet_hits, new_triplets]), start)
        in_window = evidence.shifted(self._triplet_hits, start)
        chosen = engine.choose(in_window, n_frames, ranking=engine.rank(in_window, n_frames))
        tracks = np.union1d(np.union1d(chosen, self._always), np.fromiter(self._plays, np.int64, len(self._plays)))
        fresh = np.setdiff1d(tracks, self._tracks)
        kept = evidence.since(self._pair_hits, start)
        parts = [kept.select(np.isin(kept.track_ids, tracks))]
        if fresh.size and len(window_pairs):
            parts += engine.lookup_hits([window_pairs], fresh)
        parts += engine.lookup_hits([pairs], tracks)
        self._pair_hits, self._tracks = matching.Hits.concatenate(parts), tracks
        plays = {track: play.lag for track, play in self._plays.items()}
        ended = [(track, lag) for track, lag, _ in self._ended]
        found = evidence.sure_tracks(
            engine,
            evidence.other_alignments(self._pair_hits, plays, ended, DRIFT_FRAMES),
            evidence.other_alignments(self._triplet_hits, plays, ended, DRIFT_FRAMES),
            start=start,
            n_frames=n_frames,
            looks=self._looks,
            playing=dict.fromkeys(self._plays, True),
        )
        if self._sketch_frames:
            found += self._sure_on_sketches(found)
        events: list[MonitorEvent] = []
        for f in found:
            events += self._update(f, start, now)
        return events + self._report(now)

    def _sketch(self, samples: np.ndarray) -> None:
        for shift, stream in enumerate(self._sketch_streams):
            frames = stream.push(samples)
            self._sketched[shift] += frames.size
            self._sketches[shift] = np.concatenate([self._sketches[shift], frames])[-self._sketch_frames :]

    def _sure_on_sketches(self, found: list[evidence.Found]) -> list[evidence.Found]:
        """A track neither playing nor sure on its landmarks, sure on the latest SKETCH_S of audio."""
        n = self._sketch_frames
        first = self._sketched[0] - n  # the stream frame of the query's frame 0
        if first < 0:
            return []
        query = sk.QuerySketch(
            [
                np.pad(frames[-n:], (0, n - frames[-n:].size)) if made > first else np.zeros(n, np.uint16)
                for frames, made in zip(self._sketches, self._sketched, strict=True)
            ]
        )
        if not query.usable:
            return []
        known = [*self._plays, *(f.track_id for f in found)]
        pairs, triplets = (h.select(~np.isin(h.track_ids, known)) for h in (self._pair_hits, self._triplet_hits))
        playing = [
            evidence.aligned(self.engine, self._pair_hits, matching.Hits.empty(), track=p.track_id, lag=p.lag,
                             log10_p=0.0, playing={})
            for p in self._plays.values()
        ]  # fmt: skip
        sure = evidence.sure_on_sketches(
            self.engine,
            query,
            first,
            pairs,
            triplets,
            looks=self._looks,
            tracks=self.engine.index.track_count() + len(self._plays),
            known=found + playing,
        )
        return [] if sure is None else [sure]

    def _update(self, found: evidence.Found, start: float, now: float) -> list[MonitorEvent]:
        """Apply one sure track: its open play goes on, or a play ends and another starts."""
        play = self._plays.get(found.track_id)
        events: list[MonitorEvent] = []
        if play is not None and found.new:
            # The track at another alignment. Heard while the play was heard (a passage the
            # track repeats, a loop): the same play, its alignment following the later votes.
            # Heard after it: the same play if it carries on from where it was last heard (a
            # break, a skip ahead), else a new play of the track (a replay).
            track_end = play.last_frame + play.lag
            at = found.frames[0] + found.lag
            elapsed = max(found.frames[0] - play.last_frame, 0.0)
            overlapping = found.frames[0] < play.last_frame - OVERLAP_S * self._fps
            if overlapping and found.end_frame <= play.last_frame:
                return events
            drift = DRIFT_FRAMES if play.given is None else RESUMED_DRIFT_S * self._fps
            if overlapping or track_end - drift <= at <= track_end + elapsed + drift:
                play.segment = (float(found.frames.mean()), found.lag)
            else:
                events.append(self._end(play, now))
                play = None
        if play is None:
            first = self._began(found, start)
            offset = first + found.lag
            if offset <= EDGE_S * self._fps:
                first = max(first - offset, 0.0)  # the stream frame of the track's start
            play = _Play(
                track_id=found.track_id,
                start_frame=first,
                offset_start_frame=max(first + found.lag, 0.0),
                lag=found.lag,
                last_frame=found.end_frame,
                log10_p=found.log10_p,
                speed=None,
                segment=(float(found.frames.mean()), found.lag),
                reported_frame=found.end_frame,
                reported_at=now,
            )
            self._plays[found.track_id] = play
            return [*events, MonitorEvent("started", self._sighting(play))]
        play.given = None
        play.lag = found.lag
        play.last_frame = max(play.last_frame, found.end_frame)
        play.log10_p = min(play.log10_p, found.log10_p)
        middle = float(found.frames.mean())
        if middle - play.segment[0] >= SPEED_SPAN_S * self._fps:
            play.speed = round(1.0 + (found.lag - play.segment[1]) / (middle - play.segment[0]), 3)
        return events

    def _began(self, found: evidence.Found, start: float) -> float:
        """The stream frame where a new play began: its first aligned vote, chained back through
        votes at most CHAIN_S apart, into the pairs heard before the window when it reaches there."""
        frames = found.frames
        chain = CHAIN_S * self._fps
        if frames[0] - start < chain:
            older = self._pairs_since(frames[0] - self._history_frames)
            older = older.select(older.offsets < start)
            if len(older):
                hits = self.engine.lookup_hits([older], np.array([found.track_id]))[0]
                near = np.abs(hits.db_offsets - hits.query_offsets - found.lag) <= DRIFT_FRAMES / 4
                frames = np.sort(np.concatenate([hits.query_offsets[near], frames]))
        breaks = np.flatnonzero(np.diff(frames) > chain)
        return float(frames[breaks[-1] + 1] if breaks.size else frames[0])

    def _report(self, now: float) -> list[MonitorEvent]:
        """Plays unheard for GAP_S end; plays heard further report their new end now and then."""
        events = []
        for play in list(self._plays.values()):
            if now - play.last_frame > self._gap:
                events.append(self._end(play, now))
            elif play.last_frame > play.reported_frame and now - play.reported_at >= self._extend:
                play.reported_frame, play.reported_at = play.last_frame, now
                events.append(MonitorEvent("extended", self._sighting(play)))
        self._ended = [ended for ended in self._ended if ended[2] > now]
        return events

    def _end(self, play: _Play, now: float) -> MonitorEvent:
        """Close a play; its votes still in the window are no new play's."""
        del self._plays[play.track_id]
        if play.given is None:
            left = float(self.engine.index.track_frames(np.array([play.track_id]))[0]) - play.last_frame - play.lag
            if 0 < left <= EDGE_S * self._fps:
                play.last_frame = min(play.last_frame + left, now)
        self._ended.append((play.track_id, play.lag, now + self._window))
        return MonitorEvent("ended", self._sighting(play))

    def _pairs_since(self, since: float) -> fp.Fingerprints:
        hashes, offsets = joined(list(self._history))
        keep = offsets >= since
        return fp.Fingerprints(hashes[keep], offsets[keep], 0)

    def _sighting(self, play: _Play) -> Sighting:
        if play.given is not None:
            return play.given
        fps = self._fps
        return Sighting(
            track_id=play.track_id,
            start_s=play.start_frame / fps,
            end_s=play.last_frame / fps,
            offset_start_s=play.offset_start_frame / fps,
            offset_end_s=(play.last_frame + play.lag) / fps,
            confidence=float(max(0.0, 1.0 - 10.0**play.log10_p)),
            speed=play.speed,
        )
