"""Comparing a clip's sketch with stretches of stored sketches: the best alignment of each, and
how likely unrelated audio would agree as well."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from recognition.engine.sketch.frames import SKETCH, QuerySketch, SketchParams

__all__ = ["Alignments", "align", "log10_chance"]


def log10_chance(errors: np.ndarray, bits: np.ndarray, params: SketchParams = SKETCH) -> np.ndarray:
    """log10 of the chance that unrelated audio differs in at most `errors` of `bits` compared.

    A binomial tail with half the bits (`effective_bit_share`) as fair coins; where it underflows,
    its Chernoff bound exp(-n KL(rate || 1/2)), which is never below it.
    """
    n = params.effective_bit_share * np.asarray(bits, dtype=np.float64)
    k = params.effective_bit_share * np.asarray(errors, dtype=np.float64)
    rate = np.divide(k, n, out=np.full(n.shape, 0.5), where=n > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log10(special.betainc(np.maximum(n - k, 1e-9), k + 1, 0.5))
        divergence = np.where(rate > 0, rate * np.log(2 * rate), 0.0) + (1 - rate) * np.log(2 * (1 - rate))
    chernoff = -n * divergence / np.log(10)
    result = np.where(np.isfinite(direct) & (direct > -300), direct, chernoff)
    return np.where((n <= 0) | (rate >= 0.5), 0.0, np.minimum(result, 0.0))


@dataclass(frozen=True)
class Alignments:
    """For each stretch of reference frames compared with a clip, its best alignment."""

    offset_frames: np.ndarray  # where the clip's first frame sits, in frames from the stretch's start
    log10_chance: np.ndarray  # one comparison's chance level, before any correction for looks
    bits: np.ndarray  # bits compared
    errors: np.ndarray  # ...of which differ


def align(query: QuerySketch, references: np.ndarray, params: SketchParams = SKETCH) -> Alignments:
    """Compare a clip with each row of `references` (stretches of tracks' sketches, 0 where a
    track has no frame) at every offset the rows leave room for and every sub-frame shift, and
    return each row's alignment least likely by chance.

    All shifts are compared at once; each row's best offset and shift is the one whose agreement
    stands most standard deviations above chance, and only that one's exact tail is computed.
    """
    references = np.atleast_2d(np.asarray(references, dtype=np.uint16))
    rows = references.shape[0]
    width = max(frames.size for frames in query.shifts)
    if width == 0 or width > references.shape[1]:
        return Alignments(np.zeros(rows), np.zeros(rows), np.zeros(rows, np.int64), np.zeros(rows, np.int64))
    clip = np.zeros((len(query.shifts), width), np.uint16)  # shifts padded with unusable frames
    for shift, frames in enumerate(query.shifts):
        clip[shift, : frames.size] = frames
    windows = sliding_window_view(references, width, axis=1)[:, :, None, :]  # (rows, offsets, 1, frames)
    compared = (clip != 0) & (windows != 0)  # (rows, offsets, shifts, frames)
    errors = np.where(compared, np.bitwise_count(windows ^ clip), 0).sum(axis=3, dtype=np.int64)
    bits = compared.sum(axis=3, dtype=np.int64) * params.bits
    strength = (bits / 2 - errors) / np.sqrt(np.maximum(bits, 1))
    best = strength.reshape(rows, -1).argmax(axis=1)
    offset, shift = np.unravel_index(best, strength.shape[1:])
    pick = np.arange(rows), offset, shift
    return Alignments(
        offset_frames=offset - shift / params.query_shifts,
        log10_chance=log10_chance(errors[pick], bits[pick], params),
        bits=bits[pick],
        errors=errors[pick],
    )
