"""Identification: fingerprints of a clip + a hash lookup -> Match, with retries for noise and speed.

The engine's entry point for callers that hold a hash index (recognition/engine/index.py: the
PostgreSQL store in the portal, an in-memory index in the benchmark and the tests). No Django:
the lookups, the track lengths and the catalog's size are read through the index.

Every lookup has two stages. Stage 1 looks up the clip's triplet hashes, which are selective
enough that it reads few rows however large the table, and keeps the few tracks whose triplets
align best. Stage 2 reads only those tracks' pairs (the store keeps them per track, with no
index by hash). The calibrated decision is taken twice, on the candidates' pairs (many and
robust) and on the triplets (few, but ~10 bits more selective: in a clip of a second or two a
handful of aligned triplets can be stronger evidence than its pairs), and the stronger answers;
the two share the false-match threshold, and each bound counts the whole catalog (the
candidates were chosen from all of it). Measured in docs/scaling.md: triplets put the true
track among the first few as often as pairs do.

When neither decision clears the bound (a clip of a second or two, or a noisy one), the
alignments the votes propose are checked against the tracks' frame sketches
(recognition/engine/sketch/): 16 bits a frame of spectral shape, hundreds
of bits a second, where the landmarks give a few dozen peaks. That third decision has its own
share of the threshold too. A clip that finds no match as heard is tried again with its peaks
picked on its spectrogram smoothed in time (fp.QUERY_SMOOTHED: broadband noise hides fewer of
them), in the tracks stage 1 chose, then as if played at other speeds. Audio that arrives in
pieces is identified by recognition/engine/listening.py, which takes the same decisions on all it has
heard so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, replace

import numpy as np

from recognition.engine import arrays, matching
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.index import HashIndex, LookupRows

__all__ = [
    "PAIR_SHARE",
    "SKETCH_SHARE",
    "SPEED_VARIANTS",
    "TRIPLET_SHARE",
    "Identifier",
    "LookupMemo",
    "Timeline",
]

# Radio edits, turntables and some players run 1-2 % fast or slow, which moves every peak's
# frequency and time. A clip that finds no match as heard is retried as if played at these
# speeds, its peaks moved rather than found again (fp.hash_constellation); the +-1 frame/+-1 bin
# tolerance of the hashes covers about 0.5 % either side of each.
SPEED_VARIANTS = (0.99, 1.01, 0.98, 1.02)

# A clip retried at another speed takes its triplets from every two of its anchors' 6 nearest
# targets (15 per anchor) instead of 8 (28; fp.QUERY_TRIPLET_FAN_OUT): once moved to the right
# speed it is as clean as it was heard, and looking up 4 speeds x ~8,600 triplets at once
# was the slowest part of the slowest queries (those that find no match as heard). In the sweep
# (bench/results/sweep_retry_fanout.txt) 6 changed no answer and 4 lost one white -10 dB clip.
# In the full sweep 5 lost 8 of 3,250 clips for 13 % off the p95 at 10^8 triplet rows, still
# over 150 ms (bench/results/sweep_retry_fanout5.txt, growth_retry_fanout_trial.json). The retry
# smoothed in time takes 6 too: 565 of 800 fresh clips right against 564 with 8
# (bench/results/study_noise_smoothing.txt).
RETRY_TRIPLET_FAN_OUT = 6

# Sub-frame shifts a speed retry hashes (of the query's `shifts`). Both: with one, a never-seen
# 5 s clip looked up 30 % fewer triplet values in every track (16,400 against 23,600, the cost
# that grows with the catalog), but 2 s clips at +-2 % speed fell from 76/82 % to 50/68 % and
# the noisiest cells lost a few clips (bench/results/sweep_retry_shifts.txt).
RETRY_SHIFTS = 2

# Tracks stage 1 hands to stage 2. In the sweep (bench/results/sweep_two_stage.txt) the true
# track was among the first 5 in 100 % of 5 s clips and 85-100 % of 3 s clips in every
# condition, and the two stages answered exactly as one stage over every track, bar one 2 s
# clip in 500. Each extra candidate costs stage 2 one track's pair list.
CANDIDATES = 5

# The false-match threshold is shared by the decisions on a clip (a weighted Bonferroni bound):
# pairs decide nearly every clip of 3 s or more and keep most of it; triplets, stronger in clips
# of a second or two, had 1/5 (an even split gained as many short clips in the sweep but lost
# some long noisy ones to the stricter pair bound); sketches, checked only when both fail, take
# 1/10, which costs them one order of magnitude of a margin that is tens of orders for the same
# audio (a second of it differs in ~5 % of its bits, unrelated audio in 50 %).
PAIR_SHARE = 0.7
TRIPLET_SHARE = 0.2
SKETCH_SHARE = 0.1


Lookup = Callable[..., LookupRows]  # HashIndex.lookup: (hashes, tracks=None) -> rows


class LookupMemo:
    """A lookup that asks the store for each value in every track once per clip, and answers
    repeats from the rows it already read.

    A clip that fails as heard is retried at four speeds, whose triplets include ~11 % of those
    it looked up as heard; those values (low, short steps, which a 1-2 % speed change leaves
    alone) are the commonest and hold ~21 % of the retries' rows (5 s never-seen clips at 10^8
    triplet rows, bench/results/ab_asked_once.txt). Each value's rows do not depend on the
    other values asked with it, so the answers are the same. Lookups in named tracks pass
    through.
    """

    def __init__(self, lookup: Lookup):
        self._lookup = lookup
        self._asked = np.empty(0, np.int64)  # sorted
        self._rows: LookupRows | None = None  # of every value asked

    def __call__(self, hashes: np.ndarray, tracks: np.ndarray | None = None) -> LookupRows:
        if tracks is not None:
            return self._lookup(hashes, tracks)
        wanted = arrays.distinct(np.asarray(hashes, np.int64))
        new = wanted[~arrays.isin_sorted(wanted, self._asked)]
        if new.size:
            found = self._lookup(new)
            self._asked = arrays.distinct(np.concatenate([self._asked, new]))
            if self._rows is None:  # the first lookup (all a clip decided as heard makes)
                self._rows = found
                return found
            self._rows = LookupRows.concatenate([self._rows, found])
        if self._rows is None:  # nothing asked yet
            return LookupRows.empty()
        keep = arrays.isin_sorted(self._rows.hashes, wanted)
        return LookupRows(self._rows.hashes[keep], self._rows.track_ids[keep], self._rows.offsets[keep])


@dataclass(frozen=True)
class Timeline:
    """What a long recording holds: its catalog segments, its length, how many hashes it gave."""

    segments: list[matching.Segment]
    total_frames: int
    hashes: int


@dataclass
class Identifier:
    """Identify clips against one hash index."""

    index: HashIndex
    _: KW_ONLY
    sketches: bool = True  # False: decide on the landmarks alone, never on sketches
    params: fp.FingerprintParams = fp.QUERY
    match_params: matching.MatchParams = matching.DEFAULT_PARAMS
    speed_variants: tuple[float, ...] = SPEED_VARIANTS
    candidates: int = CANDIDATES
    retry_triplet_fan_out: int = RETRY_TRIPLET_FAN_OUT
    retry_shifts: int = RETRY_SHIFTS
    smoothed_params: fp.FingerprintParams | None = fp.QUERY_SMOOTHED  # None: no retry smoothed in time

    @property
    def two_stage(self) -> bool:
        """Without triplets in the query, one stage: pairs in every track (for studies on a
        MemoryIndex(pairs_in_every_track=True); the store finds pairs in named tracks only)."""
        return self.params.triplet_fan_out is not None

    @property
    def retry_params(self) -> fp.FingerprintParams:
        """The fingerprint of a clip retried at another speed: fewer triplets."""
        return self._fewer_triplets(self.params)

    @property
    def smoothed_retry_params(self) -> fp.FingerprintParams | None:
        """The fingerprint of a clip retried smoothed in time: fewer triplets too."""
        return None if self.smoothed_params is None else self._fewer_triplets(self.smoothed_params)

    def _fewer_triplets(self, params: fp.FingerprintParams) -> fp.FingerprintParams:
        if params.triplet_fan_out is None or params.triplet_fan_out <= self.retry_triplet_fan_out:
            return params
        return replace(params, triplet_fan_out=self.retry_triplet_fan_out)

    def votes(self, fingerprints: fp.Fingerprints, *, window_frames: int | None = None) -> matching.Votes:
        """Look up a clip's hashes in two stages and pair the rows with its offsets.

        With `window_frames` (a long input), candidates are chosen window by window.
        """
        return self._votes([fingerprints], window_frames=window_frames)[0]

    def rank(self, hits: matching.Hits, n_frames: int) -> matching.Ranking:
        """Every voted track's best alignment: computed once per clip, for `choose` and `decide`."""
        return matching.rank_tracks(hits, n_frames, self.index.track_frames, self.match_params)

    def choose(
        self,
        hits: matching.Hits,
        n_frames: int,
        *,
        window_frames: int | None = None,
        ranking: matching.Ranking | None = None,
    ) -> np.ndarray:
        """Stage 1's choice: the tracks whose triplets align best."""
        return matching.top_tracks(
            hits,
            n_frames,
            self.index.track_frames,
            self.candidates,
            window_frames=window_frames,
            params=self.match_params,
            ranking=ranking,
        )

    def lookup_hits(
        self, clips: list[fp.Fingerprints], tracks: np.ndarray | None = None, *, lookup: Lookup | None = None
    ) -> list[matching.Hits]:
        """Votes of the clips' hashes against `tracks` only (None: every track, as stage 1 and a
        one-stage lookup ask), in one round trip, through `lookup` (default: the engine's)."""
        if not clips:
            return []
        if tracks is not None and tracks.size == 0:
            return [matching.Hits.empty() for _ in clips]
        lookup = lookup or self.index.lookup
        hashes = np.concatenate([c.hashes for c in clips])
        rows = lookup(hashes) if tracks is None else lookup(hashes, tracks)
        return [matching.join_hits(c.hashes, c.offsets, rows.hashes, rows.track_ids, rows.offsets) for c in clips]

    def _votes(
        self, clips: list[fp.Fingerprints], *, window_frames: int | None = None, lookup: Lookup | None = None
    ) -> list[matching.Votes]:
        split = [clip.split() for clip in clips]
        pairs = [p for p, _ in split]
        if not self.two_stage:
            return [matching.Votes(hits, matching.Hits.empty()) for hits in self.lookup_hits(pairs, lookup=lookup)]
        triplet_hits = self.lookup_hits([t for _, t in split], lookup=lookup)
        rankings = [
            self.rank(hits, clip.n_frames) if window_frames is None else None
            for hits, clip in zip(triplet_hits, clips, strict=True)
        ]
        chosen = [
            self.choose(hits, clip.n_frames, window_frames=window_frames, ranking=ranking)
            for hits, clip, ranking in zip(triplet_hits, clips, rankings, strict=True)
        ]
        pair_hits = self.lookup_hits(pairs, arrays.distinct(np.concatenate(chosen)), lookup=lookup)
        return [matching.Votes(*votes) for votes in zip(pair_hits, triplet_hits, rankings, chosen, strict=True)]

    def decide(
        self, votes: matching.Votes, n_frames: int, looks: int, query: Callable[[], sk.QuerySketch] | None = None
    ) -> matching.Match | None:
        """The stronger of the calibrated decisions on pairs and on triplets (two stages), each
        spending its share of the threshold, so that together they stay within the one bound;
        when neither is sure, the check on sketches of the clip's sketch, which `query` makes
        (only then: most clips of a few seconds are decided on their pairs)."""
        tracks = self.index.track_count()
        pair_ranking = self.rank(votes.pairs, n_frames) if len(votes.pairs) else None
        if self.two_stage:
            kinds = [(votes.pairs, PAIR_SHARE, pair_ranking), (votes.triplets, TRIPLET_SHARE, votes.triplet_ranking)]
        else:
            kinds = [(votes.pairs, 1, pair_ranking)]
        found = [
            matching.best_match(
                hits,
                n_frames,
                self.index.track_frames,
                looks=looks,
                tracks=tracks,
                share=share,
                params=self.match_params,
                ranking=ranking,
            )
            for hits, share, ranking in kinds
        ]
        match = min((m for m in found if m is not None), key=lambda m: m.log10_p, default=None)
        if match is None and query is not None and self.sketches and self.two_stage:
            match = self.check_sketches(
                query(), votes, pair_ranking=pair_ranking, n_frames=n_frames, looks=looks, tracks=tracks
            )
        return match

    def check_sketches(
        self,
        query: sk.QuerySketch,
        votes: matching.Votes,
        *,
        pair_ranking: matching.Ranking | None,
        n_frames: int,
        looks: int,
        tracks: int,
    ) -> matching.Match | None:
        """The decision on sketches (recognition/engine/sketch/check.py), with SKETCH_SHARE of the bound."""
        if not self.sketches:
            return None
        return sk.check_votes(
            query,
            votes,
            index=self.index,
            pair_ranking=pair_ranking,
            n_frames=n_frames,
            looks=looks,
            tracks=tracks,
            share=SKETCH_SHARE,
            max_false_match_rate=self.match_params.max_false_match_rate,
        )

    def identify(self, samples: np.ndarray, *, prior_looks: int = 0) -> matching.Match | None:
        """Return the match for a clip, trying the retries only when it fails as heard: first its
        peaks picked again on its spectrogram smoothed in time (noise), then the speed variants.

        `prior_looks` counts decisions already taken on the same audio (a listening session), so
        the false-match bound covers them all.
        """
        smoothed = self.smoothed_retry_params
        looks = 1 + (smoothed is not None) + len(self.speed_variants) + prior_looks
        lookup = LookupMemo(self.index.lookup)
        peaks = fp.constellation(samples, self.params)
        clip = fp.hash_constellation(peaks, self.params)
        votes = self._votes([clip], lookup=lookup)[0]
        match = self.decide(votes, clip.n_frames, looks, lambda: sk.query_sketch(samples))
        if match is None and smoothed is not None:
            match = self._smoothed_retry(samples, smoothed, votes.candidates, looks, lookup)
        if match is None and self.speed_variants:
            match = self._speed_retry(peaks, looks, lookup)
        return match

    def _smoothed_retry(
        self,
        samples: np.ndarray,
        params: fp.FingerprintParams,
        candidates: np.ndarray | None,
        looks: int,
        lookup: Lookup | None = None,
    ) -> matching.Match | None:
        """The clip's peaks picked on its spectrogram smoothed in time, where broadband noise
        hides fewer of them, looked up in the tracks stage 1 chose for the clip as heard: the
        true track is usually among them (the decision is what failed), and a lookup in a few
        tracks costs the same however large the catalog. Decided on pairs and triplets: the
        sketches were checked as heard, and the clip's sketch does not change with smoothing."""
        clip = fp.fingerprint(samples, params)
        if candidates is None:  # one stage: pairs in every track
            votes = self._votes([clip], lookup=lookup)[0]
        else:
            hits = self.lookup_hits([clip], candidates, lookup=lookup)[0]
            triplet = fp.is_triplet(hits.hashes)
            votes = matching.Votes(hits.select(~triplet), hits.select(triplet))
        return self.decide(votes, clip.n_frames, looks)

    def _speed_retry(self, peaks: fp.Constellation, looks: int, lookup: Lookup | None = None) -> matching.Match | None:
        """The clip as if played at each of `speed_variants`, all in one lookup per stage."""
        factors = self.speed_variants
        retry = self.retry_params
        moved = fp.Constellation(peaks.peaks[: self.retry_shifts], peaks.n_frames)
        variants = [fp.hash_constellation(moved, retry, speed=factor) for factor in factors]
        best: matching.Match | None = None
        for factor, variant, votes in zip(factors, variants, self._votes(variants, lookup=lookup), strict=True):
            found = self.decide(votes, variant.n_frames, looks)
            if found is not None and (best is None or found.log10_p < best.log10_p):
                # Offsets were measured at the retried speed: scale back to the clip as heard.
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
        fps = self.params.frames_per_second
        batch_frames = lookup_batch_s * fps
        window_frames = int(window_s * fps)
        hashes = 0
        seconds = 0.0

        def flush() -> None:
            nonlocal pending, pending_frames, hashes
            if pending:
                merged = fp.merge_fingerprints(pending, 0)
                hashes += len(merged)
                parts.append(self.votes(merged, window_frames=window_frames).pairs)
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
        segments = matching.timeline(
            hits,
            total_frames,
            self.index.track_frames,
            window_frames=window_frames,
            hop_frames=int(hop_s * fps),
            max_gap_frames=int(2 * window_s * fps),
            drift_frames=int(0.5 * fps),
            tracks=self.index.track_count(),
            params=self.match_params,
        )
        return Timeline(segments=segments, total_frames=total_frames, hashes=hashes)
