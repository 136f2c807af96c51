"""Making frame sketches: audio -> 16 bits a frame on how the spectrum's shape moves.

The bands are compared as ratios (differences of log energies), not as Haitsma and Kalker's
differences of energies. When every band fades together (a decaying note, a fade-out, a phone's
automatic gain) a difference of energies shrinks, so the bit says only which band is the louder
one, and music that slopes the same way (most does) agrees far more than half the time, enough
for unrelated clips of decaying notes to pass for the same audio. A ratio does not move when all
bands fade together (docs/decisions.md, SketchParams).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from recognition.engine.fingerprint import REFERENCE, Spectra

__all__ = ["SKETCH", "QuerySketch", "SketchParams", "StreamingSketch", "query_sketch", "sketch"]


@dataclass(frozen=True)
class SketchParams:
    """The sketch's settings; the comment by each value says why it is that value."""

    # The fingerprint's grid: frame t of a sketch is the frame t that a vote's offset names, so an
    # alignment found by the landmarks is checked as it is.
    sample_rate_hz: int = REFERENCE.sample_rate_hz
    fft_size: int = REFERENCE.fft_size
    hop_size: int = REFERENCE.hop_size
    # Haitsma and Kalker's band, 300-2000 Hz, which phones, small speakers and codecs pass: the
    # same audio differs in fewer bits through noise and a phone line than over a wider band,
    # while unrelated audio differs in half of them whatever the band (docs/decisions.md,
    # SketchParams.min_freq_hz).
    min_freq_hz: float = 300.0
    max_freq_hz: float = 2000.0
    # 16 bits (17 bands): 2 bytes a frame keep the reference within the storage budget.
    bits: int = 16
    # A frame is usable only when every band of it and of the frame before carries energy: digital
    # silence or a band a codec emptied gives bits that agree with any other silence. -110 dB (a
    # full-scale sine in one bin = 0 dB) is the rounding noise of 16-bit audio in the narrowest
    # band: below it nothing is heard, and noise above it gives random bits, which agree with
    # nothing.
    floor_db: float = -110.0
    # A query starts anywhere between two reference frames. Its sketch is taken at 4 sub-frame
    # shifts, so one of them lies within 1/8 frame (4 ms) of the reference's grid.
    query_shifts: int = 4
    # Bits of one frame and of neighbouring frames are not independent (overlapping windows,
    # sustained notes): the rarest agreements of unrelated clips are as rare as a binomial tail
    # predicts only when half the bits count as coin flips, so the bound counts half the bits
    # compared (docs/decisions.md, effective_bit_share).
    effective_bit_share: float = 0.5

    @property
    def band_edges(self) -> np.ndarray:
        """FFT bins where the bands start and end (bits + 2 edges, log-spaced)."""
        steps = np.arange(self.bits + 2) / (self.bits + 1)
        hz = self.min_freq_hz * (self.max_freq_hz / self.min_freq_hz) ** steps
        return np.rint(hz * self.fft_size / self.sample_rate_hz).astype(np.int64)


SKETCH = SketchParams()


def _band_energies(samples: np.ndarray, params: SketchParams) -> np.ndarray:
    """Energy of each band in each whole frame of `samples`, shape (frames, bits + 1), in units
    where a full-scale sine in one bin is 1, as fingerprint.spectrogram_db counts 0 dB."""
    frames = sliding_window_view(samples, params.fft_size)[:: params.hop_size]
    window = np.hanning(params.fft_size).astype(np.float32)
    edges = params.band_edges
    spectrum = scipy.fft.rfft(frames * window, axis=1)[:, edges[0] : edges[-1]]
    return _energies_of(spectrum.real**2 + spectrum.imag**2, params)


def _energies_of(power: np.ndarray, params: SketchParams) -> np.ndarray:
    """Band energies from the power of bins edges[0]..edges[-1] of each frame."""
    edges = params.band_edges
    scale = np.float32((params.fft_size * np.hanning(params.fft_size).astype(np.float32).mean() / 2) ** 2)
    return np.add.reduceat(power, edges[:-1] - edges[0], axis=1) / scale


def _pack(energies: np.ndarray, previous: np.ndarray | None, params: SketchParams) -> np.ndarray:
    """One uint16 a frame from band energies: bit m set when band m rose against band m+1 since
    the frame before. 0 where the frame or the one before is unusable (and for the very first
    frame, which has no frame before it)."""
    if previous is None:
        previous = np.zeros(energies.shape[1], energies.dtype)
    both = np.vstack([previous[None, :], energies])
    levels = np.log(np.maximum(both, np.finfo(np.float32).tiny))
    balance = levels[:, :-1] - levels[:, 1:]  # log of each band's energy over the next band's
    grew = (balance[1:] - balance[:-1]) > 0
    packed = (grew.astype(np.uint16) << np.arange(params.bits, dtype=np.uint16)).sum(axis=1, dtype=np.uint16)
    loud = (both >= 10 ** (params.floor_db / 10)).all(axis=1)
    return np.where(loud[1:] & loud[:-1], packed, np.uint16(0))


class StreamingSketch:
    """Sketch audio as it arrives: `push` returns the sketch of every frame that became whole,
    exactly as `sketch` would of all the audio (ingest sketches a file as ffmpeg decodes it)."""

    def __init__(self, params: SketchParams = SKETCH, *, skip_samples: int = 0):
        self.params = params
        self._skip = skip_samples
        self._buffer = np.empty(0, np.float32)
        self._previous: np.ndarray | None = None  # band energies of the last frame returned

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32)
        if self._skip:
            dropped = min(self._skip, samples.size)
            samples, self._skip = samples[dropped:], self._skip - dropped
        self._buffer = np.concatenate([self._buffer, samples])
        p = self.params
        if self._buffer.size < p.fft_size:
            return np.empty(0, np.uint16)
        n_frames = (self._buffer.size - p.fft_size) // p.hop_size + 1
        energies = _band_energies(self._buffer[: (n_frames - 1) * p.hop_size + p.fft_size], p)
        packed = _pack(energies, self._previous, p)
        self._previous = energies[-1]
        self._buffer = self._buffer[n_frames * p.hop_size :]
        return packed


def sketch(samples: np.ndarray, params: SketchParams = SKETCH) -> np.ndarray:
    """The sketch of mono samples at the engine rate: one uint16 a frame (0: unusable frame)."""
    return StreamingSketch(params).push(samples)


@dataclass(frozen=True)
class QuerySketch:
    """A clip's sketch at each sub-frame shift: shift s starts s / query_shifts of a frame late."""

    shifts: list[np.ndarray]

    @property
    def n_frames(self) -> int:
        return int(self.shifts[0].size)

    @property
    def usable(self) -> bool:
        return any(bool(s.any()) for s in self.shifts)


def query_sketch(samples: np.ndarray, params: SketchParams = SKETCH, *, spectra: Spectra | None = None) -> QuerySketch:
    """The sketch of a clip at every sub-frame shift (from `spectra`, the clip's spectra already
    computed for its peaks, when given and on the same grid)."""
    samples = np.asarray(samples, dtype=np.float32)
    starts = [s * params.hop_size // params.query_shifts for s in range(params.query_shifts)]
    if spectra is None or not spectra.fits(params.fft_size, params.hop_size):
        return QuerySketch([sketch(samples[start:], params) for start in starts])
    edges = params.band_edges
    shifts = []
    for start in starts:
        power = spectra.power(start)
        if power.shape[0] == 0:
            shifts.append(np.empty(0, np.uint16))
        else:
            shifts.append(_pack(_energies_of(power[:, edges[0] : edges[-1]], params), None, params))
    return QuerySketch(shifts)
