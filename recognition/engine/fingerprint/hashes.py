"""Peaks -> packed pair and triplet hashes with their anchor frame, and the pooling of hash sets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recognition.engine import arrays
from recognition.engine.fingerprint.params import REFERENCE, TRIPLET_SHIFT, FingerprintParams
from recognition.engine.fingerprint.peaks import Constellation, Spectra, constellation

__all__ = [
    "Fingerprints",
    "fingerprint",
    "hash_constellation",
    "hash_variants",
    "is_triplet",
    "merge_fingerprints",
    "pair_peaks",
]


def is_triplet(hashes: np.ndarray) -> np.ndarray:
    """Which hashes are triplets. Pairs lie in [0, 2^21); a triplet's anchor bin (>= 1) puts it
    at 2^24 or above, or below zero once its 32 bits fill the signed int4."""
    hashes = np.asarray(hashes)
    return (hashes < 0) | (hashes >= (1 << TRIPLET_SHIFT))


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


def pair_peaks(
    frames: np.ndarray, bins: np.ndarray, params: FingerprintParams = REFERENCE, wide: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hash each anchor with targets in its zone; return (hashes int32, anchor frames float32).

    Pairs, then triplets. `frames` must be sorted. Bins and dt are the refined positions
    rounded to whole units. `wide` marks the peaks that are maxima of the wider neighbourhood
    (`find_peaks`; None: all of them), which the query's triplets are chosen by.
    """
    zone = _zone_pairs(frames, bins, params)
    everything = np.ones(zone[0].size, dtype=bool)
    hashes, offsets, _ = _hashes(frames, bins, zone, params, emit_pairs=everything, emit_triplets=everything, wide=wide)
    return hashes, offsets


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, counts[i] items: (i of each item, its position 0..counts[i]-1)."""
    owner = np.repeat(np.arange(counts.size), counts)
    return owner, np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)


def _triplets(anchor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every two targets of each anchor's group (runs of equal `anchor`): the positions of the
    earlier and of the later one."""
    later = arrays.rank_in_runs(anchor[::-1])[::-1]  # targets after each one in its group
    first, step = _expand(later)
    return first, first + 1 + step


def _zone_pairs(
    frames: np.ndarray,
    bins: np.ndarray,
    params: FingerprintParams,
    *,
    nearest: int | None = None,
    anchors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (anchor, target) in the zone, grouped by anchor, targets in time order, with each
    target's rank among its anchor's (0 = nearest): the fan-outs keep the first few.

    `nearest`: only each anchor's first `nearest` targets (those of rank < `nearest`, all a
    fan-out of at most `nearest` reads); `anchors`: only the anchors it marks. The pairs kept are
    exactly those of the whole zone (`_zone_window`)."""
    n = frames.size
    none = np.empty(0, np.int64)
    if n < 2:
        return none, none, none
    lo = np.searchsorted(frames, frames + params.min_dt_frames - 0.5, side="left")
    hi = np.searchsorted(frames, frames + params.max_dt_frames + 0.5, side="left")
    lo = np.maximum(lo, np.arange(n) + 1)
    counts = np.maximum(hi - lo, 0)
    if anchors is not None:
        counts = np.where(anchors, counts, 0)
    if int(counts.sum()) == 0:
        return none, none, none
    if nearest is not None:
        return _zone_window(bins, lo, counts, params, nearest)
    anchor, step = _expand(counts)
    target = lo[anchor] + step
    df = np.abs(np.rint(bins[target]) - np.rint(bins[anchor]))
    in_zone = (df <= params.max_df_bins) & (df >= params.min_df_bins)
    anchor, target = anchor[in_zone], target[in_zone]
    return anchor, target, arrays.rank_in_runs(anchor)


# Peaks in time a round of `_zone_window` reads per anchor: a query's 50 peaks a second put ~50
# in a zone, and about half of those are within its band of bins, so one round usually finds a
# screen's 4 nearest targets and a second the rest.
_ZONE_ROUND = 8


def _zone_window(
    bins: np.ndarray, lo: np.ndarray, counts: np.ndarray, params: FingerprintParams, nearest: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_zone_pairs`' first `nearest` targets of each anchor (`counts` peaks in time from `lo`),
    read in rounds of a few peaks for the anchors that still lack targets, instead of every peak
    of every zone: a wide retry's screen keeps 4 targets of the ~50 peaks a zone holds."""
    rounded = np.rint(bins)
    read = np.zeros(counts.size, np.int64)
    found = np.zeros(counts.size, np.int64)
    live = np.flatnonzero(counts)
    anchors: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    while live.size:
        take = np.minimum(counts[live] - read[live], max(_ZONE_ROUND, 2 * nearest))
        owner, step = _expand(take)
        anchor = live[owner]
        target = lo[anchor] + read[anchor] + step
        df = np.abs(rounded[target] - rounded[anchor])
        in_zone = (df <= params.max_df_bins) & (df >= params.min_df_bins)
        anchors.append(anchor[in_zone])
        targets.append(target[in_zone])
        found[live] += np.bincount(owner[in_zone], minlength=live.size)
        read[live] += take
        live = live[(found[live] < nearest) & (read[live] < counts[live])]
    # Each anchor's targets, round after round, in time order (a stable sort by anchor).
    anchor = np.concatenate(anchors)
    order = np.argsort(anchor, kind="stable")
    anchor, target = anchor[order], np.concatenate(targets)[order]
    rank = arrays.rank_in_runs(anchor)
    kept = rank < nearest
    return anchor[kept], target[kept], rank[kept]


def _hashes(
    frames: np.ndarray,
    bins: np.ndarray,
    zone: tuple[np.ndarray, np.ndarray, np.ndarray],
    params: FingerprintParams,
    *,
    emit_pairs: np.ndarray,
    emit_triplets: np.ndarray,
    wide: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs and triplets of the zone pairs (anchor, target, rank) each fan-out keeps, among
    those to emit now: a pair when `emit_pairs` marks it, a triplet when `emit_triplets` marks
    the pair of its anchor and later target and enough of its peaks are `wide` (params.py); with
    the peak each hash is anchored on."""
    anchor, target, rank = zone
    pairs = emit_pairs if params.fan_out is None else emit_pairs & (rank < params.fan_out)
    hashes, offsets, valid = _pack(frames, bins, anchor[pairs], target[pairs], params)
    anchors = anchor[pairs][valid]
    if params.triplet_fan_out is None:
        return hashes, offsets, anchors
    chosen = rank < params.triplet_fan_out
    anchor, target, emit = anchor[chosen], target[chosen], emit_triplets[chosen]
    first, second = _triplets(anchor)
    now = emit[second]  # a triplet is emitted with its later target
    if wide is not None and params.triplet_peak_neighborhood is not None:
        peaks_wide = wide[anchor[first]].astype(np.int8) + wide[target[first]] + wide[target[second]]
        now &= peaks_wide >= params.triplet_min_wide_peaks
    first, second = first[now], second[now]
    triplet_hashes, triplet_offsets, valid = _pack3(frames, bins, anchor[first], target[first], target[second])
    return (
        np.concatenate([hashes, triplet_hashes]),
        np.concatenate([offsets, triplet_offsets]),
        np.concatenate([anchors, anchor[first][valid]]),
    )


def _pack(
    frames: np.ndarray, bins: np.ndarray, anchor: np.ndarray, target: np.ndarray, params: FingerprintParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack pairs into hashes: anchor bin | target bin | dt; with which pairs were packable."""
    f_bits, dt_bits = params.hash_bits
    anchor_bin = np.rint(bins[anchor]).astype(np.int64)
    target_bin = np.rint(bins[target]).astype(np.int64)
    dt = np.rint(frames[target] - frames[anchor]).astype(np.int64)
    valid = (dt >= 1) & (dt < (1 << dt_bits)) & (target_bin < (1 << f_bits)) & (anchor_bin < (1 << f_bits))
    hashes = (anchor_bin << (f_bits + dt_bits)) | (target_bin << dt_bits) | dt
    return hashes[valid].astype(np.int32), frames[anchor][valid].astype(np.float32), valid


def _pack3(
    frames: np.ndarray, bins: np.ndarray, anchor: np.ndarray, t1: np.ndarray, t2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack triplets into 32 bits: anchor bin (8) | df1 (7) | df2 (7) | dt1 (5) | dt2 (5); with
    which triplets were packable."""
    a = np.rint(bins[anchor]).astype(np.int64)
    df1 = np.rint(bins[t1]).astype(np.int64) - a + 63
    df2 = np.rint(bins[t2]).astype(np.int64) - a + 63
    dt1 = np.rint(frames[t1] - frames[anchor]).astype(np.int64)
    dt2 = np.rint(frames[t2] - frames[anchor]).astype(np.int64)
    valid = (dt1 >= 1) & (dt1 < 32) & (dt2 >= 1) & (dt2 < 32) & (a < 256)
    valid &= (df1 >= 0) & (df1 < 128) & (df2 >= 0) & (df2 < 128)
    packed = (a << TRIPLET_SHIFT) | (df1 << 17) | (df2 << 10) | (dt1 << 5) | dt2
    return packed[valid].astype(np.uint32).view(np.int32), frames[anchor][valid].astype(np.float32), valid


def fingerprint(
    samples: np.ndarray, params: FingerprintParams = REFERENCE, *, spectra: Spectra | None = None
) -> Fingerprints:
    """Fingerprint mono samples at `params.sample_rate_hz`: distinct (hash, anchor frame) pairs.

    Anchor frames are fractional (float32); stores keep them rounded to whole frames. `spectra`:
    the clip's spectra already computed (see `Spectra`).
    """
    return hash_constellation(constellation(samples, params, spectra=spectra), params)


def hash_constellation(
    peaks: Constellation, params: FingerprintParams = REFERENCE, speed: float = 1.0, frequency: float | None = None
) -> Fingerprints:
    """Hash a clip's peaks, as heard or as if played `speed` times faster.

    A speed change moves every peak to frame / speed and bin * speed, so a clip is retried at
    other speeds by moving its peaks rather than resampling the audio and finding them again,
    several times faster for as many answers (docs/decisions.md, SPEED_VARIANTS). `frequency`
    multiplies the bins instead, when it differs from `speed`: a tempo change (pitch kept) moves
    the frames alone (`frequency=1`), a pitch shift (tempo kept) the bins alone (`speed=1`).
    """
    frequency = speed if frequency is None else frequency
    parts = []
    for frames, bins, shift, wide in peaks.peaks:
        if speed == 1.0 and frequency == 1.0:
            hashes, offsets = pair_peaks(frames, bins, params, wide)
            offsets = offsets + shift
        else:
            moved_frames = ((frames + shift) / speed).astype(np.float32)
            hashes, offsets = pair_peaks(moved_frames, (bins * frequency).astype(np.float32), params, wide)
        parts.append(Fingerprints(hashes, offsets, 0))
    return merge_fingerprints(parts, int(peaks.n_frames / speed))


def hash_variants(
    peaks: Constellation, params: FingerprintParams, factors: Sequence[tuple[float, float]], *, pairs: bool = True
) -> list[Fingerprints]:
    """`hash_constellation(peaks, params, speed=t, frequency=f)` for each (t, f) of `factors`, in
    one pass: every variant's moved peaks laid end to end, far enough apart in time that no
    target zone reaches from one into the next. A wide retry hashes a clip at dozens of factors,
    and hashing them one by one, a few hundred peaks a call, spent most of a never-indexed
    clip's time in per-call overhead (docs/decisions.md, hash_variants). Each variant's dt and
    offsets are computed from its own frames, as `hash_constellation` computes them; only which
    targets fall within the zone is decided on the laid-out frames (float64), which can differ
    from float32 at a zone's edge by a rounding. `pairs=False`: the triplets alone (a screen
    looks up nothing else)."""
    if not factors:
        return []
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # hashes, offsets, factor of each
    for frames, bins, shift, wide in peaks.peaks:
        moved = [_moved(frames, bins, shift, t, f) for t, f in factors]
        sizes = np.array([m[0].size for m in moved], np.int64)
        local = np.concatenate([m[0] for m in moved]).astype(np.float32)
        laid_bins = np.concatenate([m[1] for m in moved]).astype(np.float32)
        stride = math.ceil(max((float(m[0][-1]) for m in moved if m[0].size), default=0.0)) + params.max_dt_frames + 2
        group = np.repeat(np.arange(len(factors), dtype=np.int64), sizes)
        laid_wide = np.tile(wide, len(factors))
        zone = _zone_pairs(
            local.astype(np.float64) + group * stride,
            laid_bins,
            params,
            nearest=_nearest_read(params, pairs),
            anchors=None if pairs else _triplet_anchors(laid_wide, params),
        )
        everything = np.ones(zone[0].size, dtype=bool)
        hashes, offsets, anchors = _hashes(
            local,
            laid_bins,
            zone,
            params,
            emit_pairs=everything if pairs else np.zeros_like(everything),
            emit_triplets=everything,
            wide=laid_wide,
        )
        owner = group[anchors]
        added = np.array([m[2] for m in moved], np.float32)
        found.append((hashes, offsets + added[owner], owner))
    # Every factor's hashes pooled as merge_fingerprints pools one's: grouped by factor in one
    # stable sort of 16-bit integers (a radix sort), then each group's keys sorted as values.
    keys = _merge_keys(np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]))
    owner = np.concatenate([f[2] for f in found])
    by_factor = np.argsort(owner.astype(np.int16 if len(factors) < 1 << 15 else np.int64), kind="stable")
    keys = keys[by_factor]
    bounds = np.searchsorted(owner[by_factor], np.arange(len(factors) + 1))
    return [
        Fingerprints(*_unmerge_keys(arrays.distinct(keys[bounds[k] : bounds[k + 1]])), n_frames=int(peaks.n_frames / t))
        for k, (t, _) in enumerate(factors)
    ]


def _nearest_read(params: FingerprintParams, pairs: bool) -> int | None:
    """How many nearest targets of each anchor the hashes of `params` read (None: all): the
    larger fan-out of the pairs (when hashed) and of the triplets."""
    fan_outs = [params.triplet_fan_out] + ([params.fan_out] if pairs else [])
    return None if None in fan_outs else max(f for f in fan_outs if f is not None)


def _triplet_anchors(wide: np.ndarray, params: FingerprintParams) -> np.ndarray | None:
    """The peaks a triplet of `params` can be anchored on when no pair is hashed (None: all):
    when its three peaks must all be wide (a wide retry's screen), the wide ones alone."""
    if params.triplet_peak_neighborhood is None or params.triplet_min_wide_peaks < 3:
        return None
    return wide


def _moved(
    frames: np.ndarray, bins: np.ndarray, shift: np.float32, speed: float, frequency: float
) -> tuple[np.ndarray, np.ndarray, np.float32]:
    """A shift's peaks as `hash_constellation` hashes them at (speed, frequency), and what its
    offsets add afterwards: (frames, bins, added)."""
    if speed == 1.0 and frequency == 1.0:
        return frames, bins, shift
    return ((frames + shift) / speed).astype(np.float32), (bins * frequency).astype(np.float32), np.float32(0)


def merge_fingerprints(parts: list[Fingerprints], n_frames: int) -> Fingerprints:
    """Pool fingerprints, keeping each (hash, offset) once, in time order."""
    hashes = np.concatenate([p.hashes for p in parts]) if parts else np.empty(0, np.int32)
    offsets = np.concatenate([p.offsets for p in parts]) if parts else np.empty(0, np.float32)
    # One sort of 64-bit keys (offset, then hash), cheaper than a two-key lexsort.
    return Fingerprints(*_unmerge_keys(arrays.distinct(_merge_keys(hashes, offsets))), n_frames=n_frames)


def _merge_keys(hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """One uint64 a hash that sorts by offset, then hash: the bits of a non-negative float32 sort
    as the float does; flipping a hash's sign bit makes its bits sort as the signed value does."""
    return (offsets.astype(np.float32).view(np.uint32).astype(np.uint64) << np.uint64(32)) | (
        hashes.astype(np.int32).view(np.uint32) ^ np.uint32(1 << 31)
    ).astype(np.uint64)


def _unmerge_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, offsets) of `_merge_keys`' keys."""
    return (
        ((keys & np.uint64(0xFFFFFFFF)).astype(np.uint32) ^ np.uint32(1 << 31)).view(np.int32),
        (keys >> np.uint64(32)).astype(np.uint32).view(np.float32),
    )
