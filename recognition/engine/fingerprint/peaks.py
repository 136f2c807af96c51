"""Samples -> log spectrogram -> spectral peaks: the constellation a clip's hashes are made of."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from recognition.engine.arrays import rank_in_runs
from recognition.engine.fingerprint.params import REFERENCE, FingerprintParams

__all__ = ["Constellation", "Spectra", "constellation", "find_peaks", "frame_power", "spectrogram_db"]


def spectrogram_db(
    samples: np.ndarray, params: FingerprintParams = REFERENCE, *, spectra: Spectra | None = None, start: int = 0
) -> np.ndarray:
    """Return the log-magnitude spectrogram of the peak band of `samples[start:]`, shape (frames,
    bins), in dB, its power averaged over frames when `params.time_smoothing` asks; from
    `spectra` when given (the same values, computed once per clip)."""
    if spectra is not None and spectra.fits(params.fft_size, params.hop_size):
        return spectra.kept(("db", start, *_spectrogram_key(params)), lambda: _db(spectra.power(start), params))
    return _db(frame_power(np.asarray(samples, dtype=np.float32)[start:], params.fft_size, params.hop_size), params)


def _spectrogram_key(params: FingerprintParams) -> tuple:
    """What a spectrogram_db depends on besides the samples: the band and the smoothing."""
    return params.band_bins, params.time_smoothing


def _db(power: np.ndarray, params: FingerprintParams) -> np.ndarray:
    """spectrogram_db of frames' power spectra (all bins)."""
    lo, hi = params.band_bins
    power = power[:, lo:hi]
    if power.shape[0] == 0:
        return np.empty((0, hi - lo), dtype=np.float32)
    if params.time_smoothing:
        weights = np.asarray(params.time_smoothing, dtype=np.float32)
        power = ndimage.convolve1d(power, weights / weights.sum(), axis=0, mode="nearest")
    # Full-scale sine -> 0 dB; the tiny offset keeps log10 finite on digital silence.
    scale = (params.fft_size * _hann(params.fft_size).mean() / 2) ** 2
    return (10.0 * np.log10(power / scale + 1e-12)).astype(np.float32)


def frame_power(samples: np.ndarray, fft_size: int, hop_size: int) -> np.ndarray:
    """Return the power spectrum of every whole Hann-windowed frame of float32 `samples`, shape
    (frames, fft_size // 2 + 1): what the peaks, the retry smoothed in time and the sketches of
    a clip are all computed from."""
    if samples.size < fft_size:
        return np.empty((0, fft_size // 2 + 1), dtype=np.float32)
    frames = sliding_window_view(samples, fft_size)[::hop_size]
    spectrum = scipy.fft.rfft(frames * _hann(fft_size), axis=1)
    return spectrum.real**2 + spectrum.imag**2


@functools.cache
def _hann(fft_size: int) -> np.ndarray:
    window = np.hanning(fft_size).astype(np.float32)
    window.flags.writeable = False
    return window


class Spectra:
    """A clip's frame power spectra, by the sample its frames start at, each computed once.

    A clip is looked at several times: its peaks at two sub-frame shifts, again on its
    spectrogram smoothed in time when it finds no match as heard, and its sketches at four
    shifts, two of which are the peaks' own frames. All of them read the same Hann-windowed
    FFTs of the same samples, so each is computed once a clip and the answers are those of
    computing them again (tests/recognition/engine/identify/test_identifier.py).
    """

    def __init__(self, samples: np.ndarray, *, fft_size: int, hop_size: int):
        self.samples = np.asarray(samples, dtype=np.float32)
        self.fft_size = fft_size
        self.hop_size = hop_size
        self._power: dict[int, np.ndarray] = {}
        self._kept: dict[tuple, np.ndarray] = {}

    def kept(self, key: tuple, make: Callable[[], np.ndarray]) -> np.ndarray:
        """What `make` returns for `key` (read only), made once: the log spectrogram and its
        neighbourhood maxima, which a clip's denser look shares with its first (`constellation`)."""
        if key not in self._kept:
            made = make()
            made.flags.writeable = False
            self._kept[key] = made
        return self._kept[key]

    def fits(self, fft_size: int, hop_size: int) -> bool:
        """Whether these spectra are on the grid of `fft_size` and `hop_size`."""
        return (fft_size, hop_size) == (self.fft_size, self.hop_size)

    def power(self, start: int) -> np.ndarray:
        """The power spectra of the frames of `samples[start:]` (read only)."""
        if start not in self._power:
            power = frame_power(self.samples[start:], self.fft_size, self.hop_size)
            power.flags.writeable = False
            self._power[start] = power
        return self._power[start]


def find_peaks(
    spec_db: np.ndarray,
    params: FingerprintParams = REFERENCE,
    first_frame: int = 0,
    *,
    maxima: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (frames, bins) of the spectral peaks as float32, sorted by frame then bin, and
    which of them are also maxima of `params.triplet_peak_neighborhood` (see `_wide`).

    A peak is a neighbourhood maximum, strictly above the previous frame (a steady tone gives one
    peak at its onset, not one per frame), 3 dB above the local mean and above the silence
    floor; the loudest are kept, `peaks_per_second` per block of frames and band. Positions are
    refined to a fraction of a frame and of a bin by a parabola through the neighbours (exact
    for the Gaussian-like main lobe of a Hann window in dB), so they depend less on where the
    frame grid falls. `first_frame` is the absolute number of the spectrogram's first frame:
    blocks are aligned on absolute frames so that streamed and whole-file fingerprints agree.
    `maxima`: `_neighbourhood_maxima(spec_db, params)`, when the caller has it already.
    """
    frames, bins = _peak_grid(spec_db, params, first_frame, maxima=maxima)
    rows = frames - first_frame
    return (*_refine(spec_db, rows, bins, params, first_frame), _wide(spec_db, rows, bins, params))


def _neighbourhood_maxima(spec_db: np.ndarray, params: FingerprintParams) -> np.ndarray:
    """Where a peak may be, before the budget: the (row, bin) of every neighbourhood maximum of
    `spec_db` that rises from the frame before and stands prominent above the floor, shape (2,
    n), by row then bin. Only the budget tells a query's look from its denser look."""
    if spec_db.shape[0] == 0:
        return np.empty((2, 0), np.int64)
    local_max = maximum_filter(spec_db, (params.neighborhood_frames, params.neighborhood_bins))
    prominence = spec_db - ndimage.uniform_filter(
        spec_db, size=(params.prominence_frames, params.prominence_bins), mode="nearest"
    )
    rising = np.ones_like(spec_db, dtype=bool)
    rising[1:] = spec_db[1:] > spec_db[:-1]
    is_peak = (spec_db == local_max) & rising & (prominence >= params.min_prominence_db) & (spec_db >= params.floor_db)
    return np.array(np.nonzero(is_peak), dtype=np.int64).reshape(2, -1)


def maximum_filter(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`ndimage.maximum_filter(values, size, mode="nearest")` of a 2-d array, the same values: the
    running maximum over shifted slices, one axis after the other (an edge repeated adds nothing
    its window lacks), several times faster on a clip's spectrogram than ndimage's filter."""
    source = np.asarray(values)
    for axis, span in enumerate(size):
        out = source.copy()
        n = source.shape[axis]
        for shift in range(-(span // 2), span - span // 2):  # i's window: i - span // 2 onwards
            if shift == 0 or abs(shift) >= n:
                continue
            # out[i] takes source[i + shift] wherever both lie in the array.
            wrote = [slice(None), slice(None)]
            read = [slice(None), slice(None)]
            wrote[axis] = slice(max(-shift, 0), n - max(shift, 0))
            read[axis] = slice(max(shift, 0), n + min(shift, 0))
            np.maximum(out[tuple(wrote)], source[tuple(read)], out=out[tuple(wrote)])
        source = out
    return source


def _maxima_key(params: FingerprintParams) -> tuple:
    """What `_neighbourhood_maxima` depends on besides the spectrogram."""
    return (
        params.neighborhood_frames,
        params.neighborhood_bins,
        params.prominence_frames,
        params.prominence_bins,
        params.min_prominence_db,
        params.floor_db,
    )


def _peak_grid(
    spec_db: np.ndarray, params: FingerprintParams, first_frame: int, *, maxima: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks on the frame/bin grid: absolute frame numbers and band-relative bins (int64)."""
    if spec_db.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    frames, bins = _neighbourhood_maxima(spec_db, params) if maxima is None else maxima
    if frames.size == 0:
        return frames.astype(np.int64), bins.astype(np.int64)
    strength = spec_db[frames, bins]
    frames = frames.astype(np.int64) + first_frame
    n_bands = len(params.subband_edges_hz) + 1
    per_block = params.peaks_per_second * params.block_frames / params.frames_per_second
    per_block = max(1, round(per_block / n_bands))
    bin_hz = params.sample_rate_hz / params.fft_size
    band_edges = np.asarray(params.subband_edges_hz) / bin_hz - params.band_bins[0]
    block = (frames // params.block_frames) * n_bands + np.searchsorted(band_edges, bins, side="right")
    order = np.lexsort((-strength, block))  # by block and band, loudest first
    block_sorted = block[order]
    keep = np.sort(order[rank_in_runs(block_sorted) < per_block])  # back to (frame, bin) order
    return frames[keep], bins[keep].astype(np.int64)


def _wide(spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, params: FingerprintParams) -> np.ndarray:
    """Which peaks are also maxima of the wider `params.triplet_peak_neighborhood` (a
    reference's): only those could have been picked by a reference, and stage 1 looks up a
    query's triplets only when most of their peaks are (params.py). All of them when None."""
    if params.triplet_peak_neighborhood is None or rows.size == 0:
        return np.ones(rows.size, bool)
    # Each peak's own window (edges repeated, as maximum_filter's mode="nearest" does): a few
    # hundred peaks x 99 cells cost less than a filter over the whole spectrogram.
    span_frames, span_bins = params.triplet_peak_neighborhood
    frame_steps = np.arange(-(span_frames // 2), span_frames - span_frames // 2)
    bin_steps = np.arange(-(span_bins // 2), span_bins - span_bins // 2)
    r = np.clip(rows[:, None, None] + frame_steps[None, :, None], 0, spec_db.shape[0] - 1)
    c = np.clip(bins[:, None, None] + bin_steps[None, None, :], 0, spec_db.shape[1] - 1)
    return spec_db[rows, bins] >= spec_db[r, c].reshape(rows.size, -1).max(axis=1)


def _refine(
    spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, params: FingerprintParams, first_frame: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-grid positions (absolute frames, FFT bins) of grid peaks at spectrogram `rows`: the
    frame of each peak's maximum or of its onset (`params.peak_time`), the bin of its maximum."""
    bin_fraction = _parabolic_offset(spec_db, rows, bins, axis=1)
    bins_out = (bins + bin_fraction + params.band_bins[0]).astype(np.float32)
    if params.peak_time == "rise":
        return (_rise_time(spec_db, rows, bins, params.onset_frames) + first_frame).astype(np.float32), bins_out
    if params.peak_time == "half-rise":
        return (_half_rise_time(spec_db, rows, bins, params.onset_frames) + first_frame).astype(np.float32), bins_out
    frame_fraction = _parabolic_offset(spec_db, rows, bins, axis=0)
    return (rows + first_frame + frame_fraction).astype(np.float32), bins_out


def _onset_window(spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Each peak's bin over the `span` frames before its maximum and the maximum's own, shape
    (peaks, span + 1), the first frame repeated before the spectrogram's start; and those rows."""
    window = np.maximum(rows[:, None] + np.arange(-span, 1)[None, :], 0)
    return spec_db[window, bins[:, None]], window


def _rise_time(spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, span: int) -> np.ndarray:
    """Frame (within the spectrogram) of each peak's largest rise in dB from the frame before,
    among the `span` frames up to its maximum, refined by a parabola through the rises."""
    if rows.size == 0:
        return rows.astype(np.float64)
    rises = np.zeros_like(spec_db)
    rises[1:] = spec_db[1:] - spec_db[:-1]
    _, window = _onset_window(spec_db, rows, bins, span - 1)
    values = rises[window, bins[:, None]]
    onset = window[np.arange(rows.size), np.argmax(values, axis=1)]
    return onset + _parabolic_offset(rises, onset, bins, axis=0)


def _half_rise_time(spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, span: int) -> np.ndarray:
    """Time (in frames of the spectrogram, interpolated) where each peak's bin first rises past
    half-way in dB from its lowest frame among the `span` before the maximum up to the maximum."""
    if rows.size == 0:
        return rows.astype(np.float64)
    levels, window = _onset_window(spec_db, rows, bins, span)
    n = np.arange(rows.size)
    low = span - 1 - np.argmin(levels[:, span - 1 :: -1], axis=1)  # the latest lowest frame
    half = (levels[n, low] + levels[:, span]) / 2
    after = np.arange(span + 1)[None, :] > low[:, None]
    crossed = np.argmax(after & (levels >= half[:, None]), axis=1)  # the first past half-way
    below, above = levels[n, crossed - 1], levels[n, crossed]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(above > below, (half - below) / (above - below), 1.0)
    return window[n, crossed - 1] + np.clip(fraction, 0.0, 1.0)


def _parabolic_offset(spec_db: np.ndarray, frames: np.ndarray, bins: np.ndarray, axis: int) -> np.ndarray:
    """Offset in [-0.5, 0.5] of the vertex of the parabola through a peak and its two neighbours."""
    size = spec_db.shape[axis]
    index = frames if axis == 0 else bins
    before = np.maximum(index - 1, 0)
    after = np.minimum(index + 1, size - 1)
    if axis == 0:
        a, b, c = spec_db[before, bins], spec_db[frames, bins], spec_db[after, bins]
    else:
        a, b, c = spec_db[frames, before], spec_db[frames, bins], spec_db[frames, after]
    curvature = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (a - c) / curvature, 0.0)
    return np.clip(offset, -0.5, 0.5)


@dataclass(frozen=True)
class Constellation:
    """A clip's peaks, one (frames, bins, shift, wide) set per sub-frame shift, frames counted
    from the shift (the clip's start + shift frames): what its hashes are made of. `wide` marks
    the peaks that are maxima of the wider neighbourhood too (`find_peaks`)."""

    peaks: list[tuple[np.ndarray, np.ndarray, np.float32, np.ndarray]]
    n_frames: int


def constellation(
    samples: np.ndarray, params: FingerprintParams = REFERENCE, *, spectra: Spectra | None = None
) -> Constellation:
    """The peaks of mono samples at `params.sample_rate_hz`, at each of `params.shifts` shifts
    (their spectra from `spectra` when given)."""
    samples = np.asarray(samples, dtype=np.float32)
    peaks = []
    n_frames = 0
    for shift in range(params.shifts):
        start = shift * params.hop_size // params.shifts
        spec = spectrogram_db(samples, params, spectra=spectra, start=start)
        n_frames = max(n_frames, spec.shape[0])
        maxima = None
        if spectra is not None and spectra.fits(params.fft_size, params.hop_size):
            key = ("maxima", start, *_spectrogram_key(params), *_maxima_key(params))
            maxima = spectra.kept(key, functools.partial(_neighbourhood_maxima, spec, params))
        frames, bins, wide = _sorted(*find_peaks(spec, params, maxima=maxima))
        peaks.append((frames, bins, np.float32(start / params.hop_size), wide))
    return Constellation(peaks, n_frames)


def _sorted(frames: np.ndarray, *more: np.ndarray) -> tuple[np.ndarray, ...]:
    """Peaks in time order: `frames` and the arrays that go with them."""
    order = np.argsort(frames, kind="stable")
    return frames[order], *(values[order] for values in more)
