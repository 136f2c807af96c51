"""Fingerprints of a stream that never ends: a StreamingFingerprinter restarted now and then.

Its frame offsets are float32, exact to a fraction of a frame for days of frames but not for
weeks; a monitor's stream may run for months.
"""

from __future__ import annotations

import numpy as np

from recognition.engine import fingerprint as fp

__all__ = ["RestartingFingerprinter", "joined"]


class RestartingFingerprinter:
    """A StreamingFingerprinter restarted about every `every_s` (at most every ~9 s), giving
    every hash once, as one fingerprinter would (but for a few in 10,000 that float32 rounding
    of a spectrogram cut elsewhere moves by a bin), with anchors in float64 stream frames.

    A restart begins on a density block's edge, so the new fingerprinter picks the same peaks
    as the old one wherever its filters have context. Both run for an overlap: the old one gives
    the hashes anchored before a cut a few blocks into the new one, the new one those after.
    """

    def __init__(self, params: fp.FingerprintParams, every_s: float, *, keep_peaks: bool = False):
        self.params = params
        self._keep_peaks = keep_peaks
        self._peaks: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(params.shifts)]
        block = params.block_frames * params.hop_size
        # The filters and the target zone reach this far: the old one's hashes anchored before
        # the cut are all final once it has heard `_overlap` past the restart.
        reach = params.max_dt_frames + params.prominence_frames + 2 * params.block_frames
        self._cut_frames = 4 * params.block_frames  # the new one's peaks are exact from here
        self._overlap = (self._cut_frames + 2 * reach) * params.hop_size
        blocks = max(round(every_s * params.sample_rate_hz / block), -(-self._overlap // block) + 1)
        self._every = blocks * block
        self._current = fp.StreamingFingerprinter(params, keep_peaks=keep_peaks)
        self._origin = 0  # stream sample of the current one's first sample
        self._next: fp.StreamingFingerprinter | None = None
        self.heard = 0  # samples

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add samples; return the hashes that became final and their anchors in stream frames."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        samples = np.asarray(samples, np.float32)
        while samples.size:
            next_origin = self._origin + self._every
            boundary = next_origin if self._next is None else next_origin + self._overlap
            take = boundary - self.heard
            piece, samples = samples[:take], samples[take:]
            out.append(self._feed(piece, next_origin))
            self.heard += piece.size
            if self._next is None and self.heard == next_origin:
                self._next = fp.StreamingFingerprinter(self.params, keep_peaks=self._keep_peaks)
            elif self._next is not None and self.heard == boundary:
                self._current, self._next, self._origin = self._next, None, next_origin
        return joined(out)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """End of the stream: return every hash not given yet."""
        next_origin = self._origin + self._every
        cut = next_origin // self.params.hop_size + self._cut_frames
        old = self._absolute(self._current.finish(), self._origin)
        if self._next is None:
            self._keep(cut, next_origin)
            return old
        new = self._absolute(self._next.finish(), next_origin)
        self._keep(cut, next_origin)
        return joined([_below(old, cut), _below(new, cut, above=True)])

    def take_peaks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Return the peaks made final since the last call, per shift: (stream frames, float64,
        shift included; bins; wide), each once, in time order (`keep_peaks` only)."""
        taken = []
        for shift, parts in enumerate(self._peaks):
            if parts:
                taken.append(tuple(np.concatenate(p) for p in zip(*parts, strict=True)))
            else:
                taken.append((np.empty(0, np.float64), np.empty(0, np.float32), np.empty(0, bool)))
            self._peaks[shift] = []
        return taken  # type: ignore[return-value]

    def _keep(self, cut: float, next_origin: int) -> None:
        """Move the fingerprinters' new peaks here: the old one's before `cut`, the new one's after."""
        if not self._keep_peaks:
            return
        hop = self.params.hop_size
        old = (self._current, self._origin // hop, -np.inf, np.inf if self._next is None else cut)
        sources = [old] if self._next is None else [old, (self._next, next_origin // hop, cut, np.inf)]
        for fingerprinter, first, since, until in sources:
            for shift, (frames, bins, wide) in enumerate(fingerprinter.take_peaks()):
                at = frames.astype(np.float64) + first
                keep = (at >= since) & (at < until)
                if keep.any():
                    self._peaks[shift].append((at[keep], bins[keep], wide[keep]))

    def _feed(self, piece: np.ndarray, next_origin: int) -> tuple[np.ndarray, np.ndarray]:
        old = self._absolute(self._current.push(piece), self._origin)
        cut = next_origin // self.params.hop_size + self._cut_frames
        if self._next is None:
            self._keep(cut, next_origin)
            return old
        new = self._absolute(self._next.push(piece), next_origin)
        self._keep(cut, next_origin)
        return joined([_below(old, cut), _below(new, cut, above=True)])

    def _absolute(self, hashes: fp.Fingerprints, origin: int) -> tuple[np.ndarray, np.ndarray]:
        return hashes.hashes, hashes.offsets.astype(np.float64) + origin // self.params.hop_size

    def state_size(self) -> int:
        """Numbers held (buffers and kept peaks): flat however long the stream."""
        held = [self._current] if self._next is None else [self._current, self._next]
        return sum(
            s._buffer.size + s._peak_frames.size + s._peak_bins.size + s._peak_wide.size
            for f in held
            for s in f._streams
        )


def _below(hashes: tuple[np.ndarray, np.ndarray], cut: float, *, above: bool = False) -> tuple[np.ndarray, np.ndarray]:
    keep = (hashes[1] >= cut) if above else (hashes[1] < cut)
    return hashes[0][keep], hashes[1][keep]


def joined(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, np.int32), np.empty(0, np.float64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
