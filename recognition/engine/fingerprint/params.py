"""Every tunable of the fingerprint (and the row cap of the lookups that read it): the comment by
each value says why it is that value."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

__all__ = [
    "MAX_ROWS_PER_TRIPLET",
    "QUERY",
    "QUERY_DENSE",
    "QUERY_DENSE_CLIP",
    "QUERY_SMOOTHED",
    "QUERY_TRIPLET_FAN_OUT",
    "REFERENCE",
    "TRIPLET_SHIFT",
    "FingerprintParams",
    "frames_to_seconds",
]

# A triplet's anchor bin sits in its top 8 bits.
TRIPLET_SHIFT = 24
# A query makes triplets from every two of each anchor's 8 nearest targets (28 per anchor), where
# a reference keeps one per anchor: noise changes which targets are nearest, and the query must
# still contain the reference's triplet. More targets rank the true track first a little more
# often but change no answer, for several times the triplets to look up (docs/decisions.md,
# QUERY_TRIPLET_FAN_OUT).
QUERY_TRIPLET_FAN_OUT = 8


@dataclass(frozen=True)
class FingerprintParams:
    """Every tunable of the fingerprint; the comment by each value says why it is that value."""

    # 8 kHz keeps 0-4 kHz, where music keeps its most robust peaks and which survives phones,
    # laptop microphones and MP3; decoding and the FFT cost 5x less than at 44.1 kHz.
    sample_rate_hz: int = 8000
    # 512 samples = 64 ms window -> 15.6 Hz bins; 1024 is no more accurate and twice as slow
    # (docs/decisions.md, fft_size).
    fft_size: int = 512
    # 256-sample hop = 32 ms frames (31.25 a second): the time grid of offsets (votes are binned
    # in half frames of it, recognition/engine/matching).
    hop_size: int = 256
    # Peak band. Bass (60-250 Hz) carries most of the energy of most music and so survives
    # broadband noise best (docs/decisions.md, min_freq_hz); above 3.6 kHz little survives phone
    # lines and low-bitrate codecs.
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
    # 20 peaks/s with 2 targets each store ~26 hashes a second, the knee of storage against
    # accuracy: fewer lose short clips, more gain little (docs/decisions.md, peaks_per_second).
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
    # the hashes puts one of them within hop/(2*shifts) of the reference grid, so a query finds
    # far more of the reference's hashes (docs/decisions.md, shifts).
    shifts: int = 1
    # Weights over consecutive frames by which the power spectrogram is averaged before peaks
    # are picked; () = none. Broadband noise makes every bin's power fluctuate from frame to
    # frame, which raises false maxima and sinks true ones; a note
    # lasts longer than a frame and keeps its peak. Only the retry of a clip that failed as heard
    # uses it (QUERY_SMOOTHED): smoothing also blurs onsets, and references are picked unsmoothed.
    time_smoothing: tuple[float, ...] = ()
    # Which of a query's triplets are looked up: only those of whose three peaks at least
    # `triplet_min_wide_peaks` are also maxima of this wider (frames, bins) neighbourhood; None
    # keeps every triplet. A reference's peaks are maxima of 11 x 9 cells, a query's of 5 x 5, so
    # a query triplet of peaks that no reference could have picked can only meet stored rows by
    # chance, yet stage 1 looks every triplet up in every track, the cost that grows with the
    # catalog. Two of three keeps nearly every triplet found at the true place for about half the
    # values asked; three of three loses too many (docs/decisions.md, triplet_peak_neighborhood).
    triplet_peak_neighborhood: tuple[int, int] | None = None
    triplet_min_wide_peaks: int = 2
    # The time a peak is said to happen at, which its hashes' dt and offset are made of:
    # "maximum", the frame of its maximum refined by a parabola; or its onset within the
    # `onset_frames` before the maximum, where a room's reverberant tail does not move it (it
    # moves the maximum later, note by note): "rise", the frame of the bin's largest rise in dB
    # (refined by a parabola), or "half-rise", where the bin's level first crosses half-way (in
    # dB) from the lowest frame before the maximum up to it (interpolated). Only studies use the
    # onsets: references and queries must be fingerprinted alike, and stored references hold
    # "maximum" (docs/decisions.md, peak_time).
    peak_time: Literal["maximum", "rise", "half-rise"] = "maximum"
    onset_frames: int = 4

    def __post_init__(self) -> None:
        if self.peak_time not in ("maximum", "rise", "half-rise") or self.onset_frames < 1:
            raise ValueError("peak_time is maximum, rise or half-rise, with onset_frames of 1 or more")
        if self.triplet_fan_out is None:
            return
        f_bits, dt_bits = self.hash_bits
        if self.triplet_fan_out < 2 or self.max_dt_frames > 31 or self.max_df_bins > 63:
            raise ValueError("triplets need a triplet_fan_out of 2 or more and a zone of at most 31 frames and 63 bins")
        if 2 * f_bits + dt_bits > TRIPLET_SHIFT or self.band_bins[0] < 1:
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
    triplet_peak_neighborhood=(REFERENCE.neighborhood_frames, REFERENCE.neighborhood_bins),  # the reference's
)
# A clip that finds no match as heard is looked up again with its peaks picked on its spectrogram
# smoothed over 3 frames (1-2-1, the shortest symmetric average; recognition/engine/identify/
# retries.py): it answers more clips under broadband noise and no unknown ones. A retry, not the
# first look, because smoothing blurs onsets and loses some short clips the clip as heard
# answers; wider averages do no better (docs/decisions.md, QUERY_SMOOTHED).
QUERY_SMOOTHED = replace(QUERY, time_smoothing=(1.0, 2.0, 1.0))
# Music under a voice: speech 5-10 dB louder takes most of the query's 50 peaks a second and few
# of the music's peaks left are maxima of a reference's neighbourhood. A window of a long input
# that matches nothing is looked at once more with its peaks picked twice as dense, every peak
# eligible for triplets (from 6 nearest targets: twice the peaks give several times the
# triplets), looked up in every track on the main share of the bound
# (recognition/engine/identify/long_inputs.py; docs/decisions.md, window_dense_params).
QUERY_DENSE = replace(QUERY, peaks_per_second=100.0, triplet_peak_neighborhood=None, triplet_fan_out=6)
# A clip's denser look (Identifier.dense_params): the same peaks, its triplets from 8 nearest
# targets instead of 6. Clips the look missed under another song or a louder voice were lost in
# its stage 1: their track was not among the candidates, though its pairs would have cleared the
# bound. Among the clip's denser peaks the other source's stand between an anchor and the
# reference's two nearest targets, which fall past the 6 nearest; 8 reach more of them, for more
# values looked up in every track by clips that take the look (docs/decisions.md,
# QUERY_DENSE_CLIP). A long input's windows keep QUERY_DENSE, as measured on uploads.
QUERY_DENSE_CLIP = replace(QUERY_DENSE, triplet_fan_out=8)


# Stage 1 (a lookup in every track) reads at most this many stored rows of one triplet value: the
# first in track time (offset) order, as the store's primary key holds them. A value stored more
# often marks a sound common to many tracks (a held chord, a drum loop, the same recording on
# many releases): it votes for all of them, while a query triplet adds at most one vote to the
# true track. So the rows a query reads stay bounded however a catalog concentrates its values,
# and, unlike a stop-list that drops such values, a recording stored hundreds of times stays
# findable. 256 is far above what any value of the benchmark's catalog holds, so the cap acts
# only on catalogs that concentrate values (docs/decisions.md, MAX_ROWS_PER_TRIPLET).
MAX_ROWS_PER_TRIPLET = 256


def frames_to_seconds(frames: float | np.ndarray, params: FingerprintParams = REFERENCE) -> float | np.ndarray:
    """Convert a frame offset to seconds."""
    return frames * params.hop_size / params.sample_rate_hz
