"""A monitor's retained history: the peaks it heard, a minute at a time, searched for new tracks.

What a monitor keeps is its stream's peaks (every shift's, with the flag its triplets are
chosen by), not its hashes: the hashes are a function of the peaks, made again in a fraction
of the time audio takes, and the peaks are ~25 times smaller (docs/decisions.md,
RetainedMinute). A minute is one packed blob: a uint32 a peak, time-ordered.

A search for tracks added to the catalog (`search`) runs in two steps. A prefilter makes the
history's reference-like triplets stretch by stretch, keeps those some new track holds (a table
lookup), and counts their votes per track, alignment and 10 s of stream: only where enough agree is
there a candidate. Each candidate region is then replayed through a StreamMonitor that looks
the new tracks up, with the whole catalog counted by the false-match bound, so a play is
decided on and its start and end found exactly as the live monitor would have (sketches
aside: they need audio, and only hurry a detection the landmarks then make).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.fingerprint.hashes import _pack3, _triplets, _zone_pairs
from recognition.engine.identify import Identifier
from recognition.engine.index import HashIndex, LookupRows
from recognition.engine.memory import MemoryIndex
from recognition.engine.monitoring.events import Sighting
from recognition.engine.monitoring.monitor import GAP_S, MONITOR_LOOKS, StreamMonitor

__all__ = ["MINUTE_FRAMES", "MinuteChunker", "pack_minute", "search", "unpack_minute"]

MINUTE_FRAMES = 1875  # 60 s of 32 ms frames: one retained blob
# A peak's frame is kept to 1/2048 of a frame (22 bits for a minute): a hash's dt, rounded from
# two peaks' frames, comes out otherwise for 1 pair in ~2,000 (a flip at exactly x.5).
FRAME_UNITS = 2048
# A minute is complete once the stream has gone this far past its end: a peak is final about a
# second after its audio (the filters' reach and its density block), a restart's overlap adds ~2 s.
LATENCY_FRAMES = 5 * 31.25
# Prefilter: reference-like triplets of the history (of the peaks a reference could have picked,
# each anchor with every two of its PREFILTER_FAN_OUT nearest such targets), matched against the
# new tracks' own triplets (an anchor and its 2 nearest targets, rebuilt from their stored pairs).
# 32-bit values meet by chance about once in 10^5 of a new track's values; a play heard at all
# gives dozens in 10 s. PREFILTER_VOTES of one track at one alignment (4-frame bins) in 10 s of
# stream make a candidate (docs/decisions.md, PREFILTER_VOTES).
PREFILTER_FAN_OUT = 4
PREFILTER_VOTES = 6
PREFILTER_LAG_FRAMES = 4
PREFILTER_SPAN_FRAMES = 312  # 10 s
# A candidate region reaches this far around its votes: the monitor's window and gap, so a play's
# first votes, its chain back (CHAIN_S) and its end after GAP_S are all inside.
MARGIN_FRAMES = round((GAP_S + 18.0) * 31.25)
BLOCK_MINUTES = 60  # the prefilter's piece of a stretch
PAIRS = replace(fp.QUERY, triplet_fan_out=None)


def pack_minute(frames: np.ndarray, bins: np.ndarray, wide: np.ndarray, shifts: np.ndarray) -> bytes:
    """Pack a minute's peaks (frames from the minute's start, in [0, MINUTE_FRAMES)) into one
    little-endian uint32 each: frame in 1/2048 (22 bits) | bin (8) | wide (1) | shift (1)."""
    units = np.clip(np.rint(np.asarray(frames) * FRAME_UNITS), 0, (1 << 22) - 1).astype(np.uint32)
    words = (
        (units << np.uint32(10))
        | (np.clip(np.rint(bins), 0, 255).astype(np.uint32) << np.uint32(2))
        | (np.asarray(wide, bool).astype(np.uint32) << np.uint32(1))
        | (np.asarray(shifts).astype(np.uint32) & np.uint32(1))
    )
    return np.sort(words).astype("<u4").tobytes()


def unpack_minute(blob: bytes | memoryview) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(frames from the minute's start, float64; bins, int16; wide, bool; shift, uint8)."""
    words = np.frombuffer(blob, "<u4")
    frames = (words >> np.uint32(10)).astype(np.float64) / FRAME_UNITS
    bins = ((words >> np.uint32(2)) & 255).astype(np.int16)
    return frames, bins, (words & 2).astype(bool), (words & 1).astype(np.uint8)


class MinuteChunker:
    """Gather a StreamMonitor's peaks (`take_peaks`) into minutes of stream and pack each one
    complete: minute k holds stream frames [k, k + 1) x MINUTE_FRAMES."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._next = 0  # the first minute not packed yet

    def add(
        self, peaks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], heard_frames: float
    ) -> list[tuple[int, bytes]]:
        """Add peaks; return (minute, blob) of each minute now complete."""
        for shift, (frames, bins, wide) in enumerate(peaks):
            if frames.size:
                self._parts.append((np.asarray(frames, np.float64), bins, wide, np.full(frames.size, shift, np.uint8)))
        last = int((heard_frames - LATENCY_FRAMES) // MINUTE_FRAMES)  # minutes before this are complete
        return self._pack(last)

    def flush(self) -> list[tuple[int, bytes]]:
        """The stream has ended: pack what is left (the last minute, partial)."""
        if not self._parts:
            return []
        end = max(float(p[0].max()) for p in self._parts)
        return self._pack(int(end // MINUTE_FRAMES) + 1)

    def _pack(self, until: int) -> list[tuple[int, bytes]]:
        if until <= self._next or not self._parts:
            self._next = max(self._next, until)
            return []
        frames, bins, wide, shifts = (np.concatenate(p) for p in zip(*self._parts, strict=True))
        minute = (frames // MINUTE_FRAMES).astype(np.int64)
        out = []
        for k in range(self._next, until):
            here = minute == k
            if here.any():
                out.append((k, pack_minute(frames[here] - k * MINUTE_FRAMES, bins[here], wide[here], shifts[here])))
        later = minute >= until
        self._parts = [(frames[later], bins[later], wide[later], shifts[later])] if later.any() else []
        self._next = until
        return out


@dataclass(frozen=True)
class _Peaks:
    """A stretch's peaks per shift: frames from the stretch's start, bins, wide."""

    shifts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]

    @classmethod
    def of(cls, blobs: Sequence[bytes | memoryview]) -> _Peaks:
        parts = []
        for k, blob in enumerate(blobs):
            frames, bins, wide, shift = unpack_minute(blob)
            parts.append((frames + k * MINUTE_FRAMES, bins, wide, shift))
        if not parts:
            empty = (np.empty(0, np.float64), np.empty(0, np.int16), np.empty(0, bool))
            return cls([empty, empty])
        frames, bins, wide, shift = (np.concatenate(p) for p in zip(*parts, strict=True))
        out = []
        for s in range(fp.QUERY.shifts):
            mine = shift == s
            order = np.argsort(frames[mine], kind="stable")
            out.append((frames[mine][order], bins[mine][order], wide[mine][order]))
        return cls(out)


def _reference_triplets(pairs: LookupRows) -> LookupRows:
    """The triplets a reference makes (an anchor with its 2 nearest targets), rebuilt from its
    stored pairs: the two pairs of each anchor (track, frame, anchor bin)."""
    f_bits, dt_bits = PAIRS.hash_bits
    h = pairs.hashes.astype(np.int64)
    anchor, target, dt = h >> (f_bits + dt_bits), (h >> dt_bits) & ((1 << f_bits) - 1), h & ((1 << dt_bits) - 1)
    order = np.lexsort((dt, anchor, pairs.offsets, pairs.track_ids))
    track, offset, anchor, target, dt = (a[order] for a in (pairs.track_ids, pairs.offsets, anchor, target, dt))
    same = (track[1:] == track[:-1]) & (offset[1:] == offset[:-1]) & (anchor[1:] == anchor[:-1])
    i = np.flatnonzero(same)
    a, df1, df2 = anchor[i], target[i] - anchor[i] + 63, target[i + 1] - anchor[i] + 63
    valid = (df1 >= 0) & (df1 < 128) & (df2 >= 0) & (df2 < 128) & (a < 256)
    packed = (a << 24) | (df1 << 17) | (df2 << 10) | (dt[i] << 5) | dt[i + 1]
    return LookupRows(
        packed[valid].astype(np.uint32).view(np.int32), track[i][valid], offset[i][valid].astype(np.int32)
    )


def _triplets_of(peaks: _Peaks, since: float, until: float) -> tuple[np.ndarray, np.ndarray]:
    """The prefilter's triplets anchored in [since, until), of the wide peaks, and their anchor frames."""
    hashes, offsets = [], []
    for frames, bins, wide in peaks.shifts:
        lo, hi = np.searchsorted(frames, [since, until + PAIRS.max_dt_frames + 1])
        mine = wide[lo:hi]
        f, b = (frames[lo:hi][mine] - since).astype(np.float32), bins[lo:hi][mine].astype(np.float32)
        anchor, target, rank = _zone_pairs(f, b, PAIRS)
        near = rank < PREFILTER_FAN_OUT
        anchor, target = anchor[near], target[near]
        first, second = _triplets(anchor)
        h, o, _ = _pack3(f, b, anchor[first], target[first], target[second])
        keep = o < until - since
        hashes.append(h[keep])
        offsets.append(o[keep].astype(np.float64) + since)
    return np.concatenate(hashes), np.concatenate(offsets)


def _candidates(peaks: _Peaks, n_frames: float, rows: LookupRows) -> list[tuple[float, float]]:
    """Stretch frame ranges where some new track's triplets vote enough at one alignment."""
    spans: list[np.ndarray] = []
    block = BLOCK_MINUTES * MINUTE_FRAMES
    values = np.unique(rows.hashes)
    for since in np.arange(0.0, n_frames, block):
        hashes, offsets = _triplets_of(peaks, since, since + block)
        at = np.minimum(np.searchsorted(values, hashes), values.size - 1)
        held = values[at] == hashes
        votes = matching.join_hits(hashes[held], offsets[held], rows.hashes, rows.track_ids, rows.offsets)
        if not len(votes):
            continue
        lag = np.floor((votes.db_offsets - votes.query_offsets) / PREFILTER_LAG_FRAMES).astype(np.int64)
        span = np.floor(votes.query_offsets / PREFILTER_SPAN_FRAMES).astype(np.int64)
        keys = np.stack([votes.track_ids, lag, span], axis=1)
        unique, counts = np.unique(keys, axis=0, return_counts=True)
        spans.append(np.unique(unique[counts >= PREFILTER_VOTES, 2]))
    if not spans:
        return []
    hot = np.unique(np.concatenate(spans)).astype(np.float64) * PREFILTER_SPAN_FRAMES
    regions: list[tuple[float, float]] = []
    for at in hot:
        lo, hi = max(0.0, at - MARGIN_FRAMES), min(n_frames, at + PREFILTER_SPAN_FRAMES + MARGIN_FRAMES)
        if regions and lo <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(regions[-1][1], hi))
        else:
            regions.append((lo, hi))
    return regions


class _Catalogued:
    """A small index (the new tracks' rows) that counts the whole catalog for the bound."""

    def __init__(self, inner: MemoryIndex, catalog_tracks: int):
        self._inner = inner
        self._count = catalog_tracks

    def lookup(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        return self._inner.lookup(hashes, tracks)

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        return self._inner.track_frames(track_ids)

    def track_count(self) -> int:
        return max(self._count, self._inner.track_count())

    def sketch_slices(self, track_ids: np.ndarray, first_frames: np.ndarray, n_frames: int) -> np.ndarray:
        return np.zeros((len(track_ids), n_frames), np.uint16)


def _replay(
    index: HashIndex, tracks: np.ndarray, peaks: _Peaks, region: tuple[float, float], *, catalog_tracks: int
) -> list[Sighting]:
    """The plays of `tracks` a monitor decides on in stretch frames [since, until), replayed."""
    since, until = region
    parts = []
    for frames, bins, wide in peaks.shifts:
        lo, hi = np.searchsorted(frames, [since, until])
        f = (frames[lo:hi] - since).astype(np.float32)
        h, o = fp.pair_peaks(f, bins[lo:hi].astype(np.float32), fp.QUERY, wide[lo:hi])
        parts.append(fp.Fingerprints(h, o, 0))
    heard = fp.merge_fingerprints(parts, 0)
    rows = index.lookup(heard.hashes, tracks)
    memory = MemoryIndex()
    lengths = index.track_frames(tracks)
    for track, n_frames in zip(tracks.tolist(), lengths.tolist(), strict=True):
        mine = rows.track_ids == track
        memory.add(track, fp.Fingerprints(rows.hashes[mine], rows.offsets[mine].astype(np.float32), int(n_frames)))
    engine = Identifier(_Catalogued(memory, catalog_tracks), sketches=False)
    monitor = StreamMonitor(engine, tracks=tracks.tolist(), looks=MONITOR_LOOKS)
    hop = fp.QUERY.hop_size
    events = monitor.push_hashes(heard.hashes, heard.offsets.astype(np.float64), int((until - since) * hop))
    events += monitor.finish()
    shift_s = since / fp.QUERY.frames_per_second
    return [
        replace(e.sighting, start_s=e.sighting.start_s + shift_s, end_s=e.sighting.end_s + shift_s)
        for e in events
        if e.kind == "ended"
    ]


def search(
    index: HashIndex,
    tracks: Sequence[int],
    blobs: Sequence[bytes | memoryview],
    *,
    catalog_tracks: int | None = None,
) -> list[Sighting]:
    """Every play of `tracks` in one stretch of retained history (`blobs`: consecutive minutes of
    one stream), as the live monitor would have logged it, in seconds from the stretch's start.
    `index` holds the tracks; the bound counts `catalog_tracks` (default: the index's count)."""
    track_ids = np.unique(np.asarray(tracks, np.int64))
    if not track_ids.size or not len(blobs):
        return []
    catalog_tracks = index.track_count() if catalog_tracks is None else catalog_tracks
    pairs = index.lookup(np.arange(1 << 21, dtype=np.int64), track_ids)  # every pair value: all their pairs
    peaks = _Peaks.of(blobs)
    n_frames = len(blobs) * MINUTE_FRAMES
    found: list[Sighting] = []
    for region in _candidates(peaks, n_frames, _reference_triplets(pairs)):
        found += _replay(index, track_ids, peaks, region, catalog_tracks=catalog_tracks)
    return found
