"""Long recordings: fingerprinted as they are decoded, looked up a minute at a time, matched
window by window, the windows that find nothing as heard looked at again with denser peaks and
retried at other speeds (window_retries.py), and merged into segments."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.identify import retries
from recognition.engine.identify.window_retries import KeptPeaks, Tier, retry_windows
from recognition.engine.index import HashIndex

__all__ = ["FIRST_PASS_SHARE", "SPEED_SPAN_S", "Timeline", "Windowed", "timeline"]

# Seconds between a segment's first and last window from which its speed is measured, from how
# its alignment moved (matching.timeline): a window's offset is known to about a frame, so over
# 15 s a recording as made reads within a few tenths of a percent of 1, well inside the 1 % a
# change must reach to be reported (matching/changes.py); shorter segments keep their windows'
# own estimates.
SPEED_SPAN_S = 15.0

# The share of a timeline's progress its first pass (decode, fingerprints, lookups as heard)
# reports; its retries report the rest. The retries cost from nothing (every window found as
# heard) to several times the first pass (an edit, or speech and music not in the catalog, every
# window retried at every speed). A quarter keeps the bar closest to the time elapsed where the
# retries are most of the work, and where they are little it runs behind and jumps to the end,
# never ahead (docs/decisions.md, "Upload progress through the retries").
FIRST_PASS_SHARE = 0.25


@dataclass(frozen=True)
class Timeline:
    """What a long recording holds: its catalog segments, its length, how many hashes it gave."""

    segments: list[matching.Segment]
    total_frames: int
    hashes: int


class Windowed(retries.Stages, Protocol):
    """What a long input asks of the Identifier: its index, its settings, its lookups with
    candidates chosen window by window, and its retry tiers (each window counting the looks a
    clip does)."""

    index: HashIndex
    params: fp.FingerprintParams
    window_dense_params: fp.FingerprintParams | None
    measure_speed: bool

    def votes(self, fingerprints: fp.Fingerprints, *, window_frames: int | None = None) -> matching.Votes: ...

    def retry_tiers(self, *, times: int = 1, smoothed: bool = True, dense: bool = False) -> tuple[int, list[Tier]]: ...


def timeline(
    engine: Windowed,
    chunks: Iterator[np.ndarray],
    *,
    window_s: float = 6.0,
    hop_s: float = 3.0,
    lookup_batch_s: float = 60.0,
    progress: Callable[[float], None] | None = None,
    duration_s: float | None = None,
) -> Timeline:
    """Match a long recording window by window and merge the windows into segments.

    The audio is fingerprinted as it is decoded and looked up a minute at a time. The windows
    that find no match as heard are looked at again from the input's peaks picked denser (the
    identifier's `window_dense_params`, found as it is decoded; None: not) and retried at the
    identifier's speeds from the peaks the stream kept (window_retries.py), `lookup_batch_s` of
    windows at a time.

    `progress` hears the fraction done, rising from 0 and reaching 1 only when the segments are
    ready: each minute looked up moves it through the first FIRST_PASS_SHARE by the seconds done
    of `duration_s` (the input's expected length; None: unknown, the first pass reports its end
    only), and each batch of windows retried through the rest.
    """
    params = engine.params
    stream = fp.StreamingFingerprinter(params, keep_peaks=True)
    kept = KeptPeaks(params.shifts)
    dense_params = engine.window_dense_params
    dense = _PeaksAlone(dense_params)
    parts: list[matching.Hits] = []
    pending: list[fp.Fingerprints] = []
    pending_frames = 0.0
    fps = params.frames_per_second
    batch_frames = lookup_batch_s * fps
    window_frames = int(window_s * fps)
    hop_frames = int(hop_s * fps)
    hashes = 0
    seconds = 0.0
    report = _Progress(progress)

    def flush() -> None:
        nonlocal pending, pending_frames, hashes
        if pending:
            merged = fp.merge_fingerprints(pending, 0)
            hashes += len(merged)
            parts.append(engine.votes(merged, window_frames=window_frames).pairs)
        pending, pending_frames = [], 0.0
        if duration_s:
            report(FIRST_PASS_SHARE * min(1.0, seconds / duration_s))

    for chunk in chunks:
        new = stream.push(chunk)
        kept.add(stream.take_peaks())
        dense.push(chunk)
        pending.append(new)
        pending_frames += chunk.size / params.hop_size
        seconds += chunk.size / params.sample_rate_hz
        if pending_frames >= batch_frames:
            flush()
    pending.append(stream.finish())
    kept.add(stream.take_peaks())
    dense.finish()
    flush()
    total_frames = stream.n_frames
    report(FIRST_PASS_SHARE)
    # Every window is a clip that may be retried: its decisions count the looks a clip's do
    # (no retry smoothed in time here; the denser look first when there is one), once for each
    # window.
    n_windows = matching.window_count(total_frames, window_frames, hop_frames)
    looks, tiers = engine.retry_tiers(times=n_windows, smoothed=False, dense=dense_params is not None)
    if dense_params is not None:
        tiers.insert(0, Tier((1.0,), dense_params, dense_params.shifts, looks, dense=True))
    found = matching.window_matches(
        matching.Hits.concatenate(parts),
        total_frames,
        engine.index.track_frames,
        window_frames=window_frames,
        hop_frames=hop_frames,
        tracks=engine.index.track_count(),
        looks=looks,
        params=engine.match_params,
        measure_speed=engine.measure_speed,
    )
    if hashes:
        found = retry_windows(
            engine,
            found,
            kept,
            tiers,
            window_frames=window_frames,
            hop_frames=hop_frames,
            total_frames=total_frames,
            batch_windows=max(1, round(lookup_batch_s / hop_s)),
            lookup=engine.index.lookup,
            progress=lambda done: report(FIRST_PASS_SHARE + (1 - FIRST_PASS_SHARE) * done),
            dense_peaks=dense.kept,
        )
    segments = matching.segments(
        [(w * hop_frames, match) for w, match in enumerate(found) if match is not None],
        max_gap_frames=int(2 * window_s * fps),
        drift_frames=int(0.5 * fps),
        speed_span_frames=int(SPEED_SPAN_S * fps),
    )
    report.done()
    return Timeline(segments=segments, total_frames=total_frames, hashes=hashes)


class _PeaksAlone:
    """A long input's peaks picked with other settings (denser), found as it is decoded and
    kept, never hashed here; nothing at all when `params` is None."""

    def __init__(self, params: fp.FingerprintParams | None):
        self._stream = None if params is None else fp.StreamingFingerprinter(params, hashes=False)
        self.kept = KeptPeaks(0 if params is None else params.shifts)

    def push(self, chunk: np.ndarray) -> None:
        if self._stream is not None:
            self._stream.push(chunk)
            self.kept.add(self._stream.take_peaks())

    def finish(self) -> None:
        if self._stream is not None:
            self._stream.finish()
            self.kept.add(self._stream.take_peaks())


class _Progress:
    """A timeline's progress as its caller hears it: only rises, and reaches 1 only at `done`."""

    def __init__(self, hear: Callable[[float], None] | None):
        self._hear = hear
        self._last = 0.0

    def __call__(self, fraction: float) -> None:
        fraction = min(fraction, _BEFORE_DONE)
        if self._hear is not None and fraction > self._last:
            self._last = fraction
            self._hear(fraction)

    def done(self) -> None:
        if self._hear is not None:
            self._last = 1.0
            self._hear(1.0)


# The most a timeline reports before its segments are ready: the retries' last batch is not
# the end (the segments are merged after it).
_BEFORE_DONE = 0.999
