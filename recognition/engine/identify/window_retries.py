"""Retries of a long input's windows that find no match as heard: the speed retries a clip gets
(retries.py), tier by tier, batched over the windows of a stretch of the input.

Uploads are where creators' sped-up and slowed edits turn up, and a window played a few percent
fast or slow matches nothing as heard. Each window that found no match as heard is retried as a
clip would be, from its own peaks (kept as the stream made them final), at the factors of each
tier in turn (the denser look when the identifier has one, the near speeds, then the wide tier
when it has one), every window counting the looks a clip counts. The denser look is a tier of
one factor, 1, on the input's peaks picked denser (music under a voice-over). Cheap for long
inputs: the windows of up to `batch_windows` are retried together, one lookup per stage for all
of them, and an edit keeps its speed from window to window, so a tier first tries every other
window (whose audio covers every failing window's), then each neighbour of a window found at a
factor at that factor alone, and only then every factor on the windows still failing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.identify import retries
from recognition.engine.identify.memo import Lookup, LookupMemo

__all__ = ["KeptPeaks", "Tier", "retry_windows"]


@dataclass(frozen=True)
class Tier:
    """One tier of speed retries: its factors, how they are hashed, the looks each decision
    counts, and how many of a clip's factors are decided on (None: all; retries.WIDE_DECIDED)."""

    factors: tuple[retries.Factor, ...]
    params: fp.FingerprintParams
    shifts: int
    looks: int
    decided: int | None = None
    screen: fp.FingerprintParams | None = None  # how the factors are screened (None: `params`)
    dense: bool = False  # retried from the input's denser peaks (retry_windows' `dense_peaks`)


class KeptPeaks:
    """A long input's peaks, per sub-frame shift, as the stream made them final (frames counted
    from the input's start, shift included; StreamingFingerprinter.take_peaks)."""

    def __init__(self, shifts: int):
        self._parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(shifts)]
        self._joined: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None

    def add(self, taken: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        for parts, peaks in zip(self._parts, taken, strict=True):
            if peaks[0].size:
                parts.append(peaks)
        self._joined = None

    def any(self, start: int, frames: int) -> bool:
        """Whether input frames [start, start + frames) hold any peak."""
        return any(peaks[0].size for peaks in self.window(start, frames).peaks)

    def window(self, start: int, frames: int) -> fp.Constellation:
        """The peaks of input frames [start, start + frames), counted from `start`: a stretch of
        the input as a clip (each shift's offset is in its frames already)."""
        if self._joined is None:
            self._joined = [
                tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[misc]
                if parts
                else (np.empty(0, np.float32), np.empty(0, np.float32), np.empty(0, bool))
                for parts in self._parts
            ]
        peaks = []
        for frames_of, bins, wide in self._joined:
            lo, hi = np.searchsorted(frames_of, [start, start + frames])
            peaks.append(((frames_of[lo:hi] - start).astype(np.float32), bins[lo:hi], np.float32(0), wide[lo:hi]))
        return fp.Constellation(peaks, frames)


def retry_windows(
    engine: retries.Stages,
    found: list[matching.Match | None],
    peaks: KeptPeaks,
    tiers: list[Tier],
    *,
    window_frames: int,
    hop_frames: int,
    total_frames: int,
    batch_windows: int,
    lookup: Lookup,
    progress: Callable[[float], None] | None = None,
    dense_peaks: KeptPeaks | None = None,
) -> list[matching.Match | None]:
    """`found` (each window's match as heard, None where it found none; window w covers input
    frames [w * hop_frames, + window_frames)) with the windows that found none retried from the
    input's `peaks` (a `dense` tier's from `dense_peaks`), tier by tier, `batch_windows` windows
    at a time, one lookup per stage for each round of a batch (module docstring).

    `progress` hears the fraction of the retries done after each batch, from 0 to 1: each tier
    weighs the square root of its factors, and within a tier each window that failed when the
    tier began weighs the same.
    """
    found = list(found)
    spans = [(w * hop_frames, min(window_frames, total_frames - w * hop_frames)) for w in range(len(found))]
    # A window's retries cost more in a tier of more factors, but far less than in proportion
    # (the wide tier screens its factors on a few triplets and decides on its best few): the
    # square root follows the time each tier took a window (docs/decisions.md, "Upload progress
    # through the retries").
    weights = [math.sqrt(len(tier.factors)) for tier in tiers]
    before = 0.0  # the share of the tiers already done
    for tier, weight in zip(tiers, weights, strict=True):
        share = weight / max(sum(weights), 1)
        failing = sum(match is None for match in found)
        retried = 0
        factor_of: dict[int, retries.Factor] = {}  # the windows this tier found, at which factor
        for first in range(0, len(found), max(batch_windows, 1)):
            batch = range(first, min(first + batch_windows, len(found)))
            in_batch = sum(found[w] is None for w in batch)
            retried += in_batch
            _retry_batch(
                engine,
                found,
                peaks=dense_peaks if tier.dense and dense_peaks is not None else peaks,
                spans=spans,
                tier=tier,
                batch=batch,
                factor_of=factor_of,
                lookup=LookupMemo(lookup),
            )
            if progress is not None and in_batch:
                progress(before + share * retried / failing)
        before += share
        if progress is not None:
            progress(before)
    return found


def _variants(
    peaks: KeptPeaks, spans: list[tuple[int, int]], wanted: dict[int, tuple[retries.Factor, ...]], tier: Tier
) -> list[retries.Variant]:
    """Each wanted window's hashes at each of its factors, each window numbered by its rank in
    `wanted`: the stretch the windows wanting a factor span is hashed once at it (as the input
    as heard is, an anchor's targets may lie past its window's end), and cut into its windows."""
    windows = sorted(wanted)
    variants = []
    for factor in dict.fromkeys(f for w in windows for f in wanted[w]):
        mine = [w for w in windows if factor in wanted[w]]
        first = spans[mine[0]][0]
        last = max(start + frames for start, frames in (spans[w] for w in mine))
        stretch = peaks.window(first, last - first)
        t, _ = retries.time_and_frequency(factor)
        moved = fp.Constellation(stretch.peaks[: tier.shifts], stretch.n_frames)
        hashes = retries.hashed(moved, factor, tier.params)
        screen = None if tier.screen is None else retries.hashed(moved, factor, tier.screen, pairs=False)
        for w in mine:
            start, frames = spans[w]
            lo_frame, hi_frame = (start - first) / t, (start - first + frames) / t
            variants.append(
                retries.Variant(
                    windows.index(w),
                    factor,
                    _cut(hashes, lo_frame, hi_frame, int(frames / t)),
                    None if screen is None else _cut(screen, lo_frame, hi_frame, int(frames / t)),
                )
            )
    return variants


def _cut(hashes: fp.Fingerprints, lo_frame: float, hi_frame: float, n_frames: int) -> fp.Fingerprints:
    """The hashes anchored within [lo_frame, hi_frame), offsets counted from lo_frame."""
    lo, hi = np.searchsorted(hashes.offsets, [lo_frame, hi_frame])
    return fp.Fingerprints(hashes.hashes[lo:hi], hashes.offsets[lo:hi] - np.float32(lo_frame), n_frames)


def _retry_batch(
    engine: retries.Stages,
    found: list[matching.Match | None],
    *,
    peaks: KeptPeaks,
    spans: list[tuple[int, int]],
    tier: Tier,
    batch: range,
    factor_of: dict[int, retries.Factor],
    lookup: Lookup,
) -> None:
    """One tier on one batch of windows, in rounds: every other failing window at every factor,
    the neighbours of the windows found at their factor, then the rest at the factors they have
    not tried."""
    # Silence has nothing to retry.
    tried: dict[int, set[retries.Factor]] = {w: set() for w in batch if found[w] is None and peaks.any(*spans[w])}

    def attempt(wanted: dict[int, tuple[retries.Factor, ...]]) -> None:
        wanted = {w: factors for w, factors in wanted.items() if factors}
        if not wanted:
            return
        windows = sorted(wanted)
        variants = _variants(peaks, spans, wanted, tier)
        answers = retries.speed_retries(
            engine, variants, len(windows), looks=tier.looks, lookup=lookup, decided=tier.decided
        )
        for w, answer in zip(windows, answers, strict=True):
            tried[w].update(wanted[w])
            if answer is not None:
                found[w], factor_of[w] = answer

    def failing() -> list[int]:
        return [w for w in sorted(tried) if found[w] is None]

    def hinted() -> dict[int, tuple[retries.Factor, ...]]:
        """Each failing window's neighbours' factors it has not tried."""
        hints = {}
        for w in failing():
            near = {factor_of[n] for n in (w - 1, w + 1) if n in factor_of} - tried[w]
            hints[w] = tuple(f for f in tier.factors if f in near)
        return hints

    probes: list[int] = []
    for w in failing():
        if not probes or probes[-1] != w - 1:
            probes.append(w)
    attempt(hinted())  # a window before this batch may have been found already
    attempt({w: tuple(f for f in tier.factors if f not in tried[w]) for w in probes if found[w] is None})
    attempt(hinted())
    attempt({w: tuple(f for f in tier.factors if f not in tried[w]) for w in failing()})
    attempt(hinted())
