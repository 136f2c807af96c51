"""Identify audio that arrives in pieces (a microphone on the record page) as soon as it is sure.

No Django: the session holds an identify.Identifier, which holds the lookups.
"""

from __future__ import annotations

import numpy as np

from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier

__all__ = ["ListeningSession"]


class ListeningSession:
    """Identify audio that arrives in pieces (a microphone), answering as soon as it is sure.

    Each `push` fingerprints and sketches only the new audio and looks up only the new
    triplets; candidates are chosen on all triplet votes so far. The new pairs are looked up in
    the candidates (and, when a new candidate appears, all pairs heard so far in it), and the
    decision is re-taken on all votes so far. Every decision counts as one more look in the false-match bound, so
    listening longer never makes a wrong answer more likely than the threshold allows.
    """

    def __init__(self, engine: Identifier, *, max_looks: int = 100):
        self.engine = engine
        self._stream = fp.StreamingFingerprinter(engine.params)
        shifts = sk.SKETCH.query_shifts
        self._sketch_streams = [
            sk.StreamingSketch(skip_samples=s * sk.SKETCH.hop_size // shifts) for s in range(shifts)
        ]
        self._sketches: list[list[np.ndarray]] = [[] for _ in range(shifts)]
        self._triplet_hits = matching.Hits.empty()  # every triplet vote so far
        self._pairs: list[fp.Fingerprints] = []
        self._pair_hits: list[matching.Hits] = []
        self._tracks = np.empty(0, np.int64)  # tracks whose pair votes are kept (two stages)
        self._samples: list[np.ndarray] = []
        self.looks = 0
        self._max_looks = max_looks

    @property
    def heard_s(self) -> float:
        return sum(s.size for s in self._samples) / self.engine.params.sample_rate_hz

    def push(self, samples: np.ndarray) -> matching.Match | None:
        """Add audio; return a match once the evidence is enough, else None."""
        self._samples.append(np.asarray(samples, dtype=np.float32))
        pairs, triplets = self._stream.push(samples).split()
        for stream, sketches in zip(self._sketch_streams, self._sketches, strict=True):
            sketches.append(stream.push(samples))
        n_frames = self._stream.n_frames
        engine = self.engine
        ranking = None
        if not engine.two_stage:
            self._pair_hits += engine.lookup_hits([pairs])
        else:
            self._triplet_hits = matching.Hits.concatenate([self._triplet_hits, *engine.lookup_hits([triplets])])
            ranking = engine.rank(self._triplet_hits, n_frames)
            chosen = engine.choose(self._triplet_hits, n_frames, ranking=ranking)
            fresh = np.setdiff1d(chosen, self._tracks)
            if fresh.size and self._pairs:
                heard = fp.merge_fingerprints(self._pairs, 0)
                self._pair_hits += engine.lookup_hits([heard], fresh)
            self._tracks = np.union1d(self._tracks, fresh)
            self._pair_hits += engine.lookup_hits([pairs], self._tracks)
        self._pairs.append(pairs)
        self.looks += 1
        votes = matching.Votes(matching.Hits.concatenate(self._pair_hits), self._triplet_hits, ranking)
        return engine.decide(votes, n_frames, max(self.looks, self._max_looks), self._query_sketch)

    def _query_sketch(self) -> sk.QuerySketch:
        return sk.QuerySketch([np.concatenate(parts) for parts in self._sketches])

    def finish(self) -> matching.Match | None:
        """Last chance when listening ends: everything heard, with the speed retries."""
        if not self._samples:
            return None
        return self.engine.identify(np.concatenate(self._samples), prior_looks=max(self.looks, self._max_looks))
