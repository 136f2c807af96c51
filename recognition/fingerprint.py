"""Landmark fingerprints: samples -> log spectrogram -> spectral peaks -> paired, packed hashes.

The method is Wang's (2003) constellation map, as in Shazam and Dejavu, with choices of our own
that decide accuracy and storage, each measured with `bench/sweep.py` (see the README):

* Peaks are neighbourhood maxima of the log spectrogram, picked with a vectorised maximum filter,
  refined to a fraction of a frame and bin, and thinned to a budget per block of time and per
  frequency band, so loud passages cannot crowd out quiet ones and bass cannot crowd out the
  mid-band (and the reverse).
* References and queries are fingerprinted asymmetrically. A reference keeps ~20 peaks a second
  and pairs each anchor with its 2 nearest targets (~26 hashes a second: what is stored must be
  small). A query keeps several times more peaks, pairs every anchor with every peak in its
  target zone and is fingerprinted at two sub-frame shifts, so its hashes are nearly a superset
  of the reference's even when noise reorders which peaks are strongest.
* Two kinds of hash, each with the anchor frame as its time offset. A pair packs (anchor bin,
  target bin, dt) into 21 bits. A triplet packs an anchor and two of its targets into 32 bits:
  ~10 bits more selective, so a lookup reads far fewer rows, but more fragile under noise.
  Lookups use triplets to choose a few candidate tracks, then decide on the candidates' pairs
  or, when stronger (short clips), on the triplets (`recognition/identify.py`). Their values
  lie in disjoint ranges; the store keeps each kind in the layout its lookup needs
  (`recognition/store.py`).

No Django here: numpy and scipy only, so the engine runs in benchmarks, workers and fuzzers alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from recognition import arrays

__all__ = [
    "MAX_ROWS_PER_TRIPLET",
    "QUERY",
    "QUERY_SMOOTHED",
    "REFERENCE",
    "Constellation",
    "FingerprintParams",
    "Fingerprints",
    "StreamingFingerprinter",
    "constellation",
    "find_peaks",
    "fingerprint",
    "frames_to_seconds",
    "hash_constellation",
    "is_triplet",
    "merge_fingerprints",
    "pair_peaks",
    "spectrogram_db",
]


# A triplet's anchor bin sits in its top 8 bits.
_TRIPLET_SHIFT = 24
# A query makes triplets from every two of each anchor's 8 nearest targets (28 per anchor), where
# a reference keeps one per anchor: noise changes which targets are nearest, and the query must
# still contain the reference's triplet. 14 nearest (91 per anchor, 3x the query's triplets)
# ranked the true track first more often at 1-3 s but changed no answer (bench/sweep.py;
# bench/results/sweep_two_stage*.txt).
QUERY_TRIPLET_FAN_OUT = 8


@dataclass(frozen=True)
class FingerprintParams:
    """Every tunable of the fingerprint; the comment by each value says why it is that value."""

    # 8 kHz keeps 0-4 kHz, where music keeps its most robust peaks and which survives phones,
    # laptop microphones and MP3; decoding and the FFT cost 5x less than at 44.1 kHz.
    sample_rate_hz: int = 8000
    # 512 samples = 64 ms window -> 15.6 Hz bins. 1024 gave the same accuracy at half the speed.
    fft_size: int = 512
    # 256-sample hop = 32 ms frames (31.25 a second): the time grid of offsets and of the
    # +-1 frame vote tolerance.
    hop_size: int = 256
    # Peak band. Bass (60-250 Hz) carries most of the energy of most music and so survives
    # broadband noise best (moving the floor from 250 to 60 Hz took 0 dB, 5 s queries from 62 %
    # to 78 % in the sweep); above 3.6 kHz little survives phone lines and low-bitrate codecs.
    min_freq_hz: float = 60.0
    max_freq_hz: float = 3600.0
    # A peak is the maximum of its neighbourhood (frames x bins): ~0.35 s by ~140 Hz for
    # references (dominant peaks), ~0.16 s by ~80 Hz for queries (more candidates).
    neighborhood_frames: int = 11
    neighborhood_bins: int = 9
    # ...and stands 3 dB above the local mean (~1 s by ~500 Hz): flat noise has no peaks.
    prominence_frames: int = 31
    prominence_bins: int = 31
    min_prominence_db: float = 3.0
    # Ignore digital silence and near-silence (dB relative to a full-scale sine).
    floor_db: float = -85.0
    # Density control: at most this many peaks a second, the loudest of each block of frames and
    # band. Ranking by level, not prominence, keeps the peaks that additive noise leaves standing.
    # 20 peaks/s with 2 targets each store ~26 hashes a second. The sweep (bench/sweep.py, false
    # matches held at 0/2000) gave, for 2/3/5 s clean clips: 15 hashes/s 26/54/93 %, 26 hashes/s
    # 50/80/97 %, 40 hashes/s 64/90/97 %; 26 is the knee of storage against accuracy.
    peaks_per_second: float = 20.0
    block_frames: int = 16
    # The budget is shared equally by the bands below and above 250 Hz: bass-heavy music still
    # keeps peaks a telephone line passes, bright music keeps the bass that survives a noisy room.
    subband_edges_hz: tuple[float, ...] = (250.0,)
    # Target zone: 1..31 frames (1 s) after the anchor, 3..63 bins (47 Hz-1 kHz) away. 95 % of
    # the nearest targets fall within 23 frames; a short zone keeps hashes whole in short queries.
    min_dt_frames: int = 1
    max_dt_frames: int = 31
    max_df_bins: int = 63
    # Pairs of (nearly) the same pitch only say "this note goes on": any song holding that note
    # at that tempo has them, so they are the commonest chance coincidence (3 bins = 47 Hz, a
    # semitone at 800 Hz).
    min_df_bins: int = 3
    # Targets paired with each anchor (the nearest in time in the zone); None = all of them.
    fan_out: int | None = 2
    # Triplets (anchor, target, target) from every two of an anchor's `triplet_fan_out` nearest
    # targets; None = no triplets. A reference's 2 nearest give one triplet per anchor (~13 a
    # second). Triplets only choose candidates, so their job is to rank the true track high,
    # not to be many (docs/scaling.md).
    triplet_fan_out: int | None = 2
    # A query starts anywhere between two reference frames, which can move a peak by a frame and
    # break dt. Fingerprinting the query at `shifts` evenly spaced sub-hop offsets and pooling
    # the hashes puts one of them within hop/(2*shifts) of the reference grid (2 shifts raised
    # the share of a clean query's reference hashes found from 64 % to 83 %).
    shifts: int = 1
    # Weights over consecutive frames by which the power spectrogram is averaged before peaks
    # are picked; () = none. Broadband noise makes every bin's power fluctuate from frame to
    # frame (its dB spread is ~5.6 dB), which raises false maxima and sinks true ones; a note
    # lasts longer than a frame and keeps its peak. Only the retry of a clip that failed as heard
    # uses it (QUERY_SMOOTHED): smoothing also blurs onsets, and references are picked unsmoothed.
    time_smoothing: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.triplet_fan_out is None:
            return
        f_bits, dt_bits = self.hash_bits
        if self.triplet_fan_out < 2 or self.max_dt_frames > 31 or self.max_df_bins > 63:
            raise ValueError("triplets need a triplet_fan_out of 2 or more and a zone of at most 31 frames and 63 bins")
        if 2 * f_bits + dt_bits > _TRIPLET_SHIFT or self.band_bins[0] < 1:
            raise ValueError("pair hashes must stay below 2^24 for triplets to be told apart from them")

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate_hz / self.hop_size

    @property
    def band_bins(self) -> tuple[int, int]:
        """First and one-past-last FFT bin of the peak band."""
        bin_hz = self.sample_rate_hz / self.fft_size
        return int(np.ceil(self.min_freq_hz / bin_hz)), int(np.floor(self.max_freq_hz / bin_hz)) + 1

    @property
    def hash_bits(self) -> tuple[int, int]:
        """Bits of each frequency field and of the dt field of a hash."""
        return int(self.band_bins[1] - 1).bit_length(), int(self.max_dt_frames).bit_length()


# What a reference stores and what a query looks up (see the module docstring).
REFERENCE = FingerprintParams()
QUERY = replace(
    REFERENCE,
    neighborhood_frames=5,
    neighborhood_bins=5,
    peaks_per_second=50.0,
    fan_out=None,
    triplet_fan_out=QUERY_TRIPLET_FAN_OUT,
    shifts=2,
)
# A clip that finds no match as heard is looked up again with its peaks picked on its spectrogram
# smoothed over 3 frames (1-2-1: the shortest symmetric average; recognition/identify.py). On
# fresh clips (bench/noise_study.py, 80 a cell), white noise at 0 dB: 49 -> 56 right at 5 s,
# 18 -> 25 at 2 s; at -5 dB, 5 s: 22 -> 27; at +10 dB, 1 s: 25 -> 27; no other cell moved by more
# than one clip, and 0 of 600 unknown clips matched. Wider averages (1-1-1, 1-3-1, 1-2-3-2-1)
# or other peak densities did no better. Smoothing every clip instead of retrying gained as
# much in all but lost 4 of the 25 1 s clips at +10 dB that the clip as heard answers
# (bench/results/study_noise_smoothing.txt).
QUERY_SMOOTHED = replace(QUERY, time_smoothing=(1.0, 2.0, 1.0))


# Stage 1 (a lookup in every track) reads at most this many stored rows of one triplet value: the
# first in track time (offset) order, as the store's primary key holds them. A value stored more
# often marks a sound common to many tracks (a held chord, a drum loop, the same recording on
# many releases): it votes for all of them, while a query triplet adds at most one vote to the
# true track. So the rows a query reads stay bounded however a catalog concentrates its values,
# and, unlike a stop-list that drops such values, a recording stored hundreds of times stays
# findable. 256 is ~10x the most any value of the benchmark's 4.5 h holds (26), so the cap never
# acts there; docs/scaling.md measures it on grown catalogs.
MAX_ROWS_PER_TRIPLET = 256


def is_triplet(hashes: np.ndarray) -> np.ndarray:
    """Which hashes are triplets. Pairs lie in [0, 2^21); a triplet's anchor bin (>= 1) puts it
    at 2^24 or above, or below zero once its 32 bits fill the signed int4."""
    hashes = np.asarray(hashes)
    return (hashes < 0) | (hashes >= (1 << _TRIPLET_SHIFT))


@dataclass(frozen=True)
class Fingerprints:
    """Hashes and the frame of their anchor, in anchor-time order, plus the audio's length in frames."""

    hashes: np.ndarray  # int32
    offsets: np.ndarray  # float32 frames of each hash's anchor
    n_frames: int

    def __len__(self) -> int:
        return int(self.hashes.size)

    def select(self, mask: np.ndarray) -> Fingerprints:
        return Fingerprints(self.hashes[mask], self.offsets[mask], self.n_frames)

    def split(self) -> tuple[Fingerprints, Fingerprints]:
        """(pairs, triplets)."""
        triplet = is_triplet(self.hashes)
        return self.select(~triplet), self.select(triplet)


def frames_to_seconds(frames: float | np.ndarray, params: FingerprintParams = REFERENCE) -> float | np.ndarray:
    """Convert a frame offset to seconds."""
    return frames * params.hop_size / params.sample_rate_hz


def spectrogram_db(samples: np.ndarray, params: FingerprintParams = REFERENCE) -> np.ndarray:
    """Return the log-magnitude spectrogram of the peak band, shape (frames, bins), in dB, its
    power averaged over frames when `params.time_smoothing` asks."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < params.fft_size:
        lo, hi = params.band_bins
        return np.empty((0, hi - lo), dtype=np.float32)
    frames = sliding_window_view(samples, params.fft_size)[:: params.hop_size]
    window = np.hanning(params.fft_size).astype(np.float32)
    spectrum = scipy.fft.rfft(frames * window, axis=1)
    lo, hi = params.band_bins
    power = spectrum[:, lo:hi].real ** 2 + spectrum[:, lo:hi].imag ** 2
    if params.time_smoothing:
        weights = np.asarray(params.time_smoothing, dtype=np.float32)
        power = ndimage.convolve1d(power, weights / weights.sum(), axis=0, mode="nearest")
    # Full-scale sine -> 0 dB; the tiny offset keeps log10 finite on digital silence.
    scale = (params.fft_size * window.mean() / 2) ** 2
    return (10.0 * np.log10(power / scale + 1e-12)).astype(np.float32)


def find_peaks(
    spec_db: np.ndarray, params: FingerprintParams = REFERENCE, first_frame: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Return (frames, bins) of the spectral peaks as float32, sorted by frame then bin.

    A peak is a neighbourhood maximum, strictly above the previous frame (a steady tone gives one
    peak at its onset, not one per frame), 3 dB above the local mean and above the silence
    floor; the loudest are kept, `peaks_per_second` per block of frames and band. Positions are
    refined to a fraction of a frame and of a bin by a parabola through the neighbours (exact
    for the Gaussian-like main lobe of a Hann window in dB), so they depend less on where the
    frame grid falls. `first_frame` is the absolute number of the spectrogram's first frame:
    blocks are aligned on absolute frames so that streamed and whole-file fingerprints agree.
    """
    frames, bins = _peak_grid(spec_db, params, first_frame)
    return _refine(spec_db, frames - first_frame, bins, params, first_frame)


def _peak_grid(spec_db: np.ndarray, params: FingerprintParams, first_frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Peaks on the frame/bin grid: absolute frame numbers and band-relative bins (int64)."""
    if spec_db.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    local_max = ndimage.maximum_filter(
        spec_db, size=(params.neighborhood_frames, params.neighborhood_bins), mode="nearest"
    )
    prominence = spec_db - ndimage.uniform_filter(
        spec_db, size=(params.prominence_frames, params.prominence_bins), mode="nearest"
    )
    rising = np.ones_like(spec_db, dtype=bool)
    rising[1:] = spec_db[1:] > spec_db[:-1]
    is_peak = (spec_db == local_max) & rising & (prominence >= params.min_prominence_db) & (spec_db >= params.floor_db)
    frames, bins = np.nonzero(is_peak)
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
    keep = np.sort(order[_rank_in_runs(block_sorted) < per_block])  # back to (frame, bin) order
    return frames[keep], bins[keep].astype(np.int64)


def _refine(
    spec_db: np.ndarray, rows: np.ndarray, bins: np.ndarray, params: FingerprintParams, first_frame: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-grid positions (absolute frames, FFT bins) of grid peaks at spectrogram `rows`."""
    frame_fraction = _parabolic_offset(spec_db, rows, bins, axis=0)
    bin_fraction = _parabolic_offset(spec_db, rows, bins, axis=1)
    return (
        (rows + first_frame + frame_fraction).astype(np.float32),
        (bins + bin_fraction + params.band_bins[0]).astype(np.float32),
    )


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


def pair_peaks(
    frames: np.ndarray, bins: np.ndarray, params: FingerprintParams = REFERENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Hash each anchor with targets in its zone; return (hashes int32, anchor frames float32).

    Pairs, then triplets. `frames` must be sorted. Bins and dt are the refined positions
    rounded to whole units.
    """
    zone = _zone_pairs(frames, bins, params)
    everything = np.ones(zone[0].size, dtype=bool)
    return _hashes(frames, bins, zone, params, emit_pairs=everything, emit_triplets=everything)


def _rank_in_runs(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal consecutive keys (0 for a run's first)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.arange(keys.size) - np.repeat(starts, np.diff(np.r_[starts, keys.size]))


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, counts[i] items: (i of each item, its position 0..counts[i]-1)."""
    owner = np.repeat(np.arange(counts.size), counts)
    return owner, np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)


def _triplets(anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every two targets of each anchor's group (runs of equal `anchor`): the positions of the
    earlier and of the later one."""
    later = _rank_in_runs(anchor[::-1])[::-1]  # targets after each one in its group
    first, step = _expand(later)
    return first, first + 1 + step


def _zone_pairs(
    frames: np.ndarray, bins: np.ndarray, params: FingerprintParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (anchor, target) in the zone, grouped by anchor, targets in time order, with each
    target's rank among its anchor's (0 = nearest): the fan-outs keep the first few."""
    n = frames.size
    none = np.empty(0, np.int64)
    if n < 2:
        return none, none, none
    lo = np.searchsorted(frames, frames + params.min_dt_frames - 0.5, side="left")
    hi = np.searchsorted(frames, frames + params.max_dt_frames + 0.5, side="left")
    lo = np.maximum(lo, np.arange(n) + 1)
    counts = np.maximum(hi - lo, 0)
    if int(counts.sum()) == 0:
        return none, none, none
    anchor, step = _expand(counts)
    target = lo[anchor] + step
    df = np.abs(np.rint(bins[target]) - np.rint(bins[anchor]))
    in_zone = (df <= params.max_df_bins) & (df >= params.min_df_bins)
    anchor, target = anchor[in_zone], target[in_zone]
    return anchor, target, _rank_in_runs(anchor)


def _hashes(
    frames: np.ndarray,
    bins: np.ndarray,
    zone: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: FingerprintParams,
    *,
    emit_pairs: np.ndarray,
    emit_triplets: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs and triplets of the zone pairs (anchor, target, rank) each fan-out keeps, among
    those to emit now: a pair when `emit_pairs` marks it, a triplet when `emit_triplets` marks
    the pair of its anchor and later target."""
    anchor, target, rank = zone
    pairs = emit_pairs if params.fan_out is None else emit_pairs & (rank < params.fan_out)
    hashes, offsets = _pack(frames, bins, anchor[pairs], target[pairs], params)
    if params.triplet_fan_out is None:
        return hashes, offsets
    chosen = rank < params.triplet_fan_out
    anchor, target, emit = anchor[chosen], target[chosen], emit_triplets[chosen]
    first, second = _triplets(anchor)
    now = emit[second]  # a triplet is emitted with its later target
    first, second = first[now], second[now]
    triplet_hashes, triplet_offsets = _pack3(frames, bins, anchor[first], target[first], target[second])
    return np.concatenate([hashes, triplet_hashes]), np.concatenate([offsets, triplet_offsets])


def _pack(
    frames: np.ndarray, bins: np.ndarray, anchor: np.ndarray, target: np.ndarray, params: FingerprintParams
) -> tuple[np.ndarray, np.ndarray]:
    """Pack pairs into hashes: anchor bin | target bin | dt."""
    f_bits, dt_bits = params.hash_bits
    anchor_bin = np.rint(bins[anchor]).astype(np.int64)
    target_bin = np.rint(bins[target]).astype(np.int64)
    dt = np.rint(frames[target] - frames[anchor]).astype(np.int64)
    valid = (dt >= 1) & (dt < (1 << dt_bits)) & (target_bin < (1 << f_bits)) & (anchor_bin < (1 << f_bits))
    hashes = (anchor_bin << (f_bits + dt_bits)) | (target_bin << dt_bits) | dt
    return hashes[valid].astype(np.int32), frames[anchor][valid].astype(np.float32)


def _pack3(
    frames: np.ndarray, bins: np.ndarray, anchor: np.ndarray, t1: np.ndarray, t2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pack triplets into 32 bits: anchor bin (8) | df1 (7) | df2 (7) | dt1 (5) | dt2 (5)."""
    a = np.rint(bins[anchor]).astype(np.int64)
    df1 = np.rint(bins[t1]).astype(np.int64) - a + 63
    df2 = np.rint(bins[t2]).astype(np.int64) - a + 63
    dt1 = np.rint(frames[t1] - frames[anchor]).astype(np.int64)
    dt2 = np.rint(frames[t2] - frames[anchor]).astype(np.int64)
    valid = (dt1 >= 1) & (dt1 < 32) & (dt2 >= 1) & (dt2 < 32) & (a < 256)
    valid &= (df1 >= 0) & (df1 < 128) & (df2 >= 0) & (df2 < 128)
    packed = (a << _TRIPLET_SHIFT) | (df1 << 17) | (df2 << 10) | (dt1 << 5) | dt2
    return packed[valid].astype(np.uint32).view(np.int32), frames[anchor][valid].astype(np.float32)


def fingerprint(samples: np.ndarray, params: FingerprintParams = REFERENCE) -> Fingerprints:
    """Fingerprint mono samples at `params.sample_rate_hz`: distinct (hash, anchor frame) pairs.

    Anchor frames are fractional (float32); stores keep them rounded to whole frames.
    """
    return hash_constellation(constellation(samples, params), params)


@dataclass(frozen=True)
class Constellation:
    """A clip's peaks, one (frames, bins, shift) set per sub-frame shift, frames counted from
    the shift (the clip's start + shift frames): what its hashes are made of."""

    peaks: list[tuple[np.ndarray, np.ndarray, np.float32]]
    n_frames: int


def constellation(samples: np.ndarray, params: FingerprintParams = REFERENCE) -> Constellation:
    """The peaks of mono samples at `params.sample_rate_hz`, at each of `params.shifts` shifts."""
    samples = np.asarray(samples, dtype=np.float32)
    peaks = []
    n_frames = 0
    for shift in range(params.shifts):
        start = shift * params.hop_size // params.shifts
        spec = spectrogram_db(samples[start:], params)
        n_frames = max(n_frames, spec.shape[0])
        frames, bins = _sorted(*find_peaks(spec, params))
        peaks.append((frames, bins, np.float32(start / params.hop_size)))
    return Constellation(peaks, n_frames)


def hash_constellation(peaks: Constellation, params: FingerprintParams = REFERENCE, speed: float = 1.0) -> Fingerprints:
    """Hash a clip's peaks, as heard or as if played `speed` times faster.

    A speed change moves every peak to frame / speed and bin * speed, so a clip is retried at
    other speeds by moving its peaks rather than resampling the audio and finding them again:
    four retries of a 5 s clip take 6.6 instead of 23.8 ms. In the sweep
    (bench/results/sweep_retry_fanout.txt) no 5 s cell changed; over 400 clips of 1-10 s the
    cells' counts rose by 4 clips and fell by 6, all at 1-3 s but one (+1 at 10 s).
    """
    parts = []
    for frames, bins, shift in peaks.peaks:
        if speed == 1.0:
            hashes, offsets = pair_peaks(frames, bins, params)
            offsets = offsets + shift
        else:
            moved_frames = ((frames + shift) / speed).astype(np.float32)
            hashes, offsets = pair_peaks(moved_frames, (bins * speed).astype(np.float32), params)
        parts.append(Fingerprints(hashes, offsets, 0))
    return merge_fingerprints(parts, int(peaks.n_frames / speed))


def _sorted(frames: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(frames, kind="stable")
    return frames[order], bins[order]


def merge_fingerprints(parts: list[Fingerprints], n_frames: int) -> Fingerprints:
    """Pool fingerprints, keeping each (hash, offset) once, in time order."""
    hashes = np.concatenate([p.hashes for p in parts]) if parts else np.empty(0, np.int32)
    offsets = np.concatenate([p.offsets for p in parts]) if parts else np.empty(0, np.float32)
    # One sort of 64-bit keys (offset, then hash) instead of a two-key lexsort (2.2 vs 3.3 ms for
    # a 5 s query's 16,000 hashes). The bits of a non-negative float32 sort as the float does;
    # flipping a hash's sign bit makes its bits sort as the signed value does.
    keys = arrays.distinct(
        (offsets.astype(np.float32).view(np.uint32).astype(np.uint64) << np.uint64(32))
        | (hashes.astype(np.int32).view(np.uint32) ^ np.uint32(1 << 31)).astype(np.uint64)
    )
    return Fingerprints(
        hashes=((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32) ^ np.uint32(1 << 31)).view(np.int32),
        offsets=(keys >> np.uint64(32)).astype(np.uint32).view(np.float32),
        n_frames=n_frames,
    )


class StreamingFingerprinter:
    """Fingerprint audio as it arrives, emitting every hash once and exactly as `fingerprint` would.

    The microphone stream and long uploads use it: each `push` fingerprints only the new audio
    plus the little context the filters need, so work and memory stay proportional to the chunk,
    not to everything heard so far. A peak is final once the audio extends past its filters'
    reach and its whole density block; a hash is emitted once its peaks are final (and, for
    references, once its anchor's whole target zone is).
    """

    def __init__(self, params: FingerprintParams = QUERY):
        self.params = params
        self._streams = [
            _ShiftStream(params, shift * params.hop_size // params.shifts) for shift in range(params.shifts)
        ]

    @property
    def n_frames(self) -> int:
        """Frames of audio seen so far."""
        return max(stream.n_frames for stream in self._streams)

    def push(self, samples: np.ndarray) -> Fingerprints:
        """Add samples; return the hashes that became final."""
        samples = np.asarray(samples, dtype=np.float32)
        return merge_fingerprints([stream.push(samples) for stream in self._streams], self.n_frames)

    def finish(self) -> Fingerprints:
        """End of audio: return every hash not emitted yet."""
        return merge_fingerprints([stream.finish() for stream in self._streams], self.n_frames)


class _ShiftStream:
    """Streaming state for one sub-frame shift."""

    def __init__(self, params: FingerprintParams, skip_samples: int):
        self.params = params
        self._skip = skip_samples
        self._shift_frames = np.float32(skip_samples / params.hop_size)
        self._buffer = np.empty(0, np.float32)
        self._buffer_frame = 0  # absolute frame number of the buffer's first sample
        self._final_until = 0  # peaks at frames below this are final
        self._anchors_done_until = 0  # references: anchors below this frame were paired
        # Filters (and the smoothing under them) reach this many frames either side of a frame.
        self._margin = max(params.prominence_frames, params.neighborhood_frames) // 2 + 1
        self._margin += len(params.time_smoothing) // 2
        self._peak_frames = np.empty(0, np.float32)  # final peaks still needed for pairing
        self._peak_bins = np.empty(0, np.float32)
        self.n_frames = 0

    def push(self, samples: np.ndarray) -> Fingerprints:
        if self._skip:
            dropped = min(self._skip, samples.size)
            samples, self._skip = samples[dropped:], self._skip - dropped
        self._buffer = np.concatenate([self._buffer, samples])
        return self._advance(final=False)

    def finish(self) -> Fingerprints:
        return self._advance(final=True)

    def _advance(self, final: bool) -> Fingerprints:
        p = self.params
        spec = spectrogram_db(self._buffer, p)
        end_frame = self._buffer_frame + spec.shape[0]
        self.n_frames = max(self.n_frames, end_frame)
        limit = end_frame if final else (end_frame - self._margin) // p.block_frames * p.block_frames
        if limit <= self._final_until and not final:
            return Fingerprints(np.empty(0, np.int32), np.empty(0, np.float32), 0)
        grid_frames, grid_bins = _peak_grid(spec, p, self._buffer_frame)
        new = (grid_frames >= self._final_until) & (grid_frames < limit)
        frames, bins = _refine(spec, grid_frames[new] - self._buffer_frame, grid_bins[new], p, self._buffer_frame)
        frames, bins = _sorted(frames, bins)
        n_old = self._peak_frames.size
        all_frames = np.concatenate([self._peak_frames, frames])
        all_bins = np.concatenate([self._peak_bins, bins])
        order = np.argsort(all_frames, kind="stable")
        is_new = order >= n_old
        all_frames, all_bins = all_frames[order], all_bins[order]
        zone = _zone_pairs(all_frames, all_bins, p)
        anchor, target, _ = zone
        # An anchor's nearest targets are known only once its whole zone is final...
        zone_done = limit if final else limit - p.max_dt_frames - 1
        anchor_frame = np.floor(all_frames[anchor] + 0.5)
        zone_final = (anchor_frame >= self._anchors_done_until) & (anchor_frame < zone_done)
        self._anchors_done_until = max(self._anchors_done_until, zone_done)
        # ...but when every pair in the zone is kept, a pair is final as soon as its target is,
        # and a triplet as soon as its later target is: its targets' ranks count only earlier
        # peaks, all final by then (a query answers up to a second sooner).
        if p.fan_out is None:
            emit_pairs = emit_triplets = is_new[target]
        else:
            emit_pairs = emit_triplets = zone_final
        hashes, offsets = _hashes(all_frames, all_bins, zone, p, emit_pairs=emit_pairs, emit_triplets=emit_triplets)
        # Keep the final peaks a later anchor or target may pair with, and the audio the filters
        # need on the left of the next frames to finalise.
        keep_from = limit - p.max_dt_frames - 2
        kept = all_frames >= keep_from
        self._peak_frames, self._peak_bins = all_frames[kept], all_bins[kept]
        self._final_until = limit
        first_needed = max(self._buffer_frame, limit - self._margin - 1)
        self._buffer = self._buffer[(first_needed - self._buffer_frame) * p.hop_size :]
        self._buffer_frame = first_needed
        return Fingerprints(hashes, offsets + self._shift_frames, 0)
