"""Fingerprints of audio as it arrives (microphone streams, long files), hash for hash as in batch."""

from __future__ import annotations

import numpy as np

from recognition.engine.fingerprint.hashes import Fingerprints, _hashes, _zone_pairs, merge_fingerprints
from recognition.engine.fingerprint.params import QUERY, FingerprintParams
from recognition.engine.fingerprint.peaks import _peak_grid, _refine, _sorted, _wide, spectrogram_db

__all__ = ["StreamingFingerprinter"]


class StreamingFingerprinter:
    """Fingerprint audio as it arrives, emitting every hash once and exactly as `fingerprint` would.

    The microphone stream and long uploads use it: each `push` fingerprints only the new audio
    plus the little context the filters need, so work and memory stay proportional to the chunk,
    not to everything heard so far. A peak is final once the audio extends past its filters'
    reach and its whole density block; a hash is emitted once its peaks are final (and, for
    references, once its anchor's whole target zone is).
    """

    def __init__(self, params: FingerprintParams = QUERY, *, keep_peaks: bool = False, hashes: bool = True):
        """`keep_peaks`: keep the final peaks for `take_peaks`; `hashes=False`: find and keep the
        peaks alone, every `push` returning no hash (a long input's denser peaks, hashed only
        where its windows need them)."""
        self.params = params
        self._streams = [
            _ShiftStream(params, shift * params.hop_size // params.shifts, keep_peaks=keep_peaks or not hashes,
                         hashes=hashes)
            for shift in range(params.shifts)
        ]  # fmt: skip

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

    def take_peaks(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Return the peaks made final since the last call, per shift: (frames counted from the
        audio's start, shift included; bins; wide), in time order (`keep_peaks` only)."""
        return [stream.take_peaks() for stream in self._streams]


class _ShiftStream:
    """Streaming state for one sub-frame shift."""

    def __init__(self, params: FingerprintParams, skip_samples: int, *, keep_peaks: bool = False, hashes: bool = True):
        self.params = params
        self._hashing = hashes
        self._kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = [] if keep_peaks else None
        self._skip = skip_samples
        self._shift_frames = np.float32(skip_samples / params.hop_size)
        self._buffer = np.empty(0, np.float32)
        self._buffer_frame = 0  # absolute frame number of the buffer's first sample
        self._final_until = 0  # peaks at frames below this are final
        self._anchors_done_until = 0  # references: anchors below this frame were paired
        # Filters (and the smoothing under them) reach this many frames either side of a frame.
        wide_frames = params.triplet_peak_neighborhood[0] if params.triplet_peak_neighborhood else 0
        self._margin = max(params.prominence_frames, params.neighborhood_frames, wide_frames) // 2 + 1
        self._margin += len(params.time_smoothing) // 2
        self._peak_frames = np.empty(0, np.float32)  # final peaks still needed for pairing
        self._peak_bins = np.empty(0, np.float32)
        self._peak_wide = np.empty(0, bool)
        self.n_frames = 0

    def push(self, samples: np.ndarray) -> Fingerprints:
        if self._skip:
            dropped = min(self._skip, samples.size)
            samples, self._skip = samples[dropped:], self._skip - dropped
        self._buffer = np.concatenate([self._buffer, samples])
        return self._advance(final=False)

    def finish(self) -> Fingerprints:
        return self._advance(final=True)

    def take_peaks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kept, self._kept = self._kept or [], [] if self._kept is not None else None
        if not kept:
            return np.empty(0, np.float32), np.empty(0, np.float32), np.empty(0, bool)
        return tuple(np.concatenate(part) for part in zip(*kept, strict=True))  # type: ignore[return-value]

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
        rows, new_bins = grid_frames[new] - self._buffer_frame, grid_bins[new]
        frames, bins = _refine(spec, rows, new_bins, p, self._buffer_frame)
        frames, bins, wide = _sorted(frames, bins, _wide(spec, rows, new_bins, p))
        if self._kept is not None:
            self._kept.append((frames + self._shift_frames, bins, wide))
        if not self._hashing:
            self._forget(limit)
            return Fingerprints(np.empty(0, np.int32), np.empty(0, np.float32), 0)
        n_old = self._peak_frames.size
        all_frames = np.concatenate([self._peak_frames, frames])
        all_bins = np.concatenate([self._peak_bins, bins])
        all_wide = np.concatenate([self._peak_wide, wide])
        order = np.argsort(all_frames, kind="stable")
        is_new = order >= n_old
        all_frames, all_bins, all_wide = all_frames[order], all_bins[order], all_wide[order]
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
        hashes, offsets, _ = _hashes(
            all_frames, all_bins, zone, p, emit_pairs=emit_pairs, emit_triplets=emit_triplets, wide=all_wide
        )
        # Keep the final peaks a later anchor or target may pair with, and the audio the filters
        # need on the left of the next frames to finalise.
        keep_from = limit - p.max_dt_frames - 2
        kept = all_frames >= keep_from
        self._peak_frames, self._peak_bins, self._peak_wide = all_frames[kept], all_bins[kept], all_wide[kept]
        self._forget(limit)
        return Fingerprints(hashes, offsets + self._shift_frames, 0)

    def _forget(self, limit: int) -> None:
        """Peaks below `limit` are final: keep only the audio the filters need on the left of the
        next frames to finalise."""
        self._final_until = limit
        first_needed = max(self._buffer_frame, limit - self._margin - 1)
        self._buffer = self._buffer[(first_needed - self._buffer_frame) * self.params.hop_size :]
        self._buffer_frame = first_needed
