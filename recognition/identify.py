"""Identification: fingerprints of a clip + a hash lookup -> Match, with retries for speed changes.

The engine's entry point for callers that hold a lookup (the PostgreSQL store in the portal, an
in-memory index in the benchmark and the tests). No Django: the lookup and the track lengths are
passed in as functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from recognition import fingerprint as fp
from recognition import matching

__all__ = ["SPEED_VARIANTS", "Identifier", "ListeningSession", "Timeline", "resample"]

# Radio edits, turntables and some players run 1-2 % fast or slow, which moves every peak's
# frequency and time. A clip that finds no match as heard is retried resampled by these factors
# (the +-1 frame/+-1 bin tolerance of the hashes covers about 0.5 % either side of each).
SPEED_VARIANTS = (0.99, 1.01, 0.98, 1.02)

LookupRows = tuple[np.ndarray, np.ndarray, np.ndarray]  # (hashes, track ids, offsets)
Lookup = Callable[[np.ndarray], LookupRows]
TrackFrames = Callable[[np.ndarray], np.ndarray]


def _rows(result) -> LookupRows:
    if isinstance(result, tuple):
        return result
    return result.hashes, result.track_ids, result.offsets


@dataclass(frozen=True)
class Timeline:
    """What a long recording holds: its catalog segments, its length, how many hashes it gave."""

    segments: list[matching.Segment]
    total_frames: int
    hashes: int


@dataclass
class Identifier:
    """Identify clips against one hash index."""

    lookup: Lookup
    track_frames: TrackFrames
    params: fp.FingerprintParams = fp.QUERY
    match_params: matching.MatchParams = matching.DEFAULT_PARAMS
    speed_variants: tuple[float, ...] = SPEED_VARIANTS

    def hits(self, fingerprints: fp.Fingerprints) -> matching.Hits:
        """Look up a clip's hashes (one round trip) and pair them with its offsets."""
        rows = _rows(self.lookup(fingerprints.hashes))
        return matching.join_hits(fingerprints.hashes, fingerprints.offsets, *rows)

    def identify(self, samples: np.ndarray, *, prior_tests: int = 0) -> matching.Match | None:
        """Return the match for a clip, trying the speed variants only when it fails as heard.

        `prior_tests` counts decisions already taken on the same audio (a listening session), so
        the false-match bound covers them all.
        """
        tests = 1 + len(self.speed_variants) + prior_tests
        clip = fp.fingerprint(samples, self.params)
        match = matching.best_match(
            self.hits(clip), clip.n_frames, self.track_frames, tests=tests, params=self.match_params
        )
        if match is not None or not self.speed_variants:
            return match
        # All variants in one lookup: one more round trip, not four.
        variants = [(factor, fp.fingerprint(resample(samples, factor), self.params)) for factor in self.speed_variants]
        all_hashes = np.concatenate([v.hashes for _, v in variants])
        rows = _rows(self.lookup(all_hashes))
        best: matching.Match | None = None
        for factor, variant in variants:
            hits = matching.join_hits(variant.hashes, variant.offsets, *rows)
            found = matching.best_match(
                hits, variant.n_frames, self.track_frames, tests=tests, params=self.match_params
            )
            if found is not None and (best is None or found.log10_p < best.log10_p):
                # Offsets were measured on the resampled clip: scale back to the clip as heard.
                best = matching.Match(
                    track_id=found.track_id,
                    offset_frames=found.offset_frames,
                    score=found.score,
                    log10_p=found.log10_p,
                    first_frame=int(found.first_frame * factor),
                    last_frame=int(found.last_frame * factor),
                    candidates=found.candidates,
                )
        return best

    def timeline(
        self,
        chunks: Iterator[np.ndarray],
        *,
        window_s: float = 6.0,
        hop_s: float = 3.0,
        lookup_batch_s: float = 60.0,
        progress: Callable[[float], None] | None = None,
    ) -> Timeline:
        """Match a long recording window by window and merge the windows into segments.

        The audio is fingerprinted as it is decoded and looked up a minute at a time, so memory
        stays bounded however long the recording is; `progress` hears the seconds done so far.
        """
        stream = fp.StreamingFingerprinter(self.params)
        parts: list[matching.Hits] = []
        pending: list[fp.Fingerprints] = []
        pending_frames = 0.0
        batch_frames = lookup_batch_s * self.params.frames_per_second
        hashes = 0
        seconds = 0.0

        def flush() -> None:
            nonlocal pending, pending_frames, hashes
            if pending:
                merged = fp.merge_fingerprints(pending, 0)
                hashes += len(merged)
                parts.append(self.hits(merged))
            pending, pending_frames = [], 0.0
            if progress is not None:
                progress(seconds)

        for chunk in chunks:
            new = stream.push(chunk)
            pending.append(new)
            pending_frames += chunk.size / self.params.hop_size
            seconds += chunk.size / self.params.sample_rate_hz
            if pending_frames >= batch_frames:
                flush()
        pending.append(stream.finish())
        flush()
        total_frames = stream.n_frames
        hits = matching.Hits.concatenate(parts)
        fps = self.params.frames_per_second
        segments = matching.timeline(
            hits,
            total_frames,
            self.track_frames,
            window_frames=int(window_s * fps),
            hop_frames=int(hop_s * fps),
            max_gap_frames=int(2 * window_s * fps),
            drift_frames=int(0.5 * fps),
            params=self.match_params,
        )
        return Timeline(segments=segments, total_frames=total_frames, hashes=hashes)


class ListeningSession:
    """Identify audio that arrives in pieces (a microphone), answering as soon as it is sure.

    Each `push` fingerprints only the new audio, looks up only the new hashes and adds their
    votes to the ones kept from earlier pieces; the decision is re-taken on all votes so far.
    Every decision counts as one more test in the false-match bound, so listening longer never
    makes a wrong answer more likely than the threshold allows.
    """

    def __init__(self, engine: Identifier, *, max_looks: int = 100):
        self.engine = engine
        self._stream = fp.StreamingFingerprinter(engine.params)
        self._hits: list[matching.Hits] = []
        self._samples: list[np.ndarray] = []
        self.looks = 0
        self._max_looks = max_looks

    @property
    def heard_s(self) -> float:
        return sum(s.size for s in self._samples) / self.engine.params.sample_rate_hz

    def push(self, samples: np.ndarray) -> matching.Match | None:
        """Add audio; return a match once the evidence is enough, else None."""
        self._samples.append(np.asarray(samples, dtype=np.float32))
        new = self._stream.push(samples)
        if len(new):
            self._hits.append(self.engine.hits(new))
        self.looks += 1
        hits = matching.Hits.concatenate(self._hits)
        return matching.best_match(
            hits, self._stream.n_frames, self.engine.track_frames,
            tests=max(self.looks, self._max_looks), params=self.engine.match_params,
        )  # fmt: skip

    def finish(self) -> matching.Match | None:
        """Last chance when listening ends: everything heard, with the speed retries."""
        if not self._samples:
            return None
        return self.engine.identify(np.concatenate(self._samples), prior_tests=max(self.looks, self._max_looks))


def resample(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play `samples` `factor` times faster (pitch and tempo together)."""
    ratio = Fraction(1 / factor).limit_denominator(200)
    return signal.resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)
