"""The Identifier: a clip's two-stage lookup, its decisions and its retries, on one hash index."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, replace

import numpy as np

from recognition.engine import arrays, matching
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import decisions, long_inputs, retries, window_retries
from recognition.engine.identify.memo import Lookup, LookupMemo
from recognition.engine.index import HashIndex

__all__ = ["CANDIDATES", "ClipAnswer", "Identifier"]

# Tracks stage 1 hands to stage 2: enough that the true track is nearly always among them and
# two stages answer as one stage over every track would, while each extra candidate costs stage
# 2 one more track's pair list (docs/decisions.md, CANDIDATES).
CANDIDATES = 5


@dataclass(frozen=True)
class ClipAnswer:
    """A clip's match (None: no match) and how many hashes the clip as heard gave (0: nothing to
    fingerprint, such as silence, which callers report apart from "no match")."""

    match: matching.Match | None
    hashes: int


@dataclass
class Identifier:
    """Identify clips against one hash index.

    A clip's hashes are looked up in two stages (`votes`), decided on (`decide`), and retried
    smoothed in time, with denser peaks and at other speeds when the clip as heard finds no match
    (`identify`); a
    long recording is matched window by window (`timeline`), its windows that find nothing
    looked at again with denser peaks and retried at other speeds. The fields after `index` are
    the engine's settings, each defaulting to the value its constant explains.
    """

    index: HashIndex
    _: KW_ONLY
    sketches: bool = True  # False: decide on the landmarks alone, never on sketches
    params: fp.FingerprintParams = fp.QUERY
    match_params: matching.MatchParams = matching.DEFAULT_PARAMS
    speed_variants: tuple[retries.Factor, ...] = retries.SPEED_VARIANTS
    candidates: int = CANDIDATES
    retry_triplet_fan_out: int = retries.RETRY_TRIPLET_FAN_OUT
    retry_shifts: int = retries.RETRY_SHIFTS
    smoothed_params: fp.FingerprintParams | None = fp.QUERY_SMOOTHED  # None: no retry smoothed in time
    # Speeds (or (time, frequency) pairs) tried after every other retry failed, on `wide_share` of
    # the false-match bound, their triplets from `wide_triplet_fan_out` targets of `wide_shifts`
    # shifts; () = none (retries.py, WIDE_SHARE).
    wide_variants: tuple[retries.Factor, ...] = retries.WIDE_VARIANTS
    wide_share: float = retries.WIDE_SHARE
    wide_triplet_fan_out: int = retries.WIDE_TRIPLET_FAN_OUT
    wide_shifts: int = retries.WIDE_SHIFTS
    wide_decided: int | None = retries.WIDE_DECIDED  # None: decide on every wide retry
    wide_screen_min_wide: int = retries.WIDE_SCREEN_MIN_WIDE  # wide peaks a triplet of the screen needs
    # The clip's peaks picked again with these settings (denser: music under a voice keeps some
    # of its peaks), one more look on the main share, after the smoothed retry; None: not tried.
    # Its spectrogram and maxima are the first look's, and with the engine's CPU cut a clip that
    # takes it costs what one without it did (docs/decisions.md, dense_params). Its triplets
    # reach 8 targets, not the windows' 6: under another song or a voice the reference's targets
    # fall further down an anchor's (docs/decisions.md, QUERY_DENSE_CLIP).
    dense_params: fp.FingerprintParams | None = fp.QUERY_DENSE_CLIP
    # The same look for a long input's windows that match nothing as heard (uploads, where
    # voice-overs are), its denser peaks found as the input is decoded; None: not tried
    # (docs/decisions.md, window_dense_params).
    window_dense_params: fp.FingerprintParams | None = fp.QUERY_DENSE
    # A match's speed measured from how its votes drift (matching/drift.py); False: a match
    # reports its retry's factor alone, 1 as heard (for studies).
    measure_speed: bool = True

    @property
    def two_stage(self) -> bool:
        """Without triplets in the query, one stage: pairs in every track (for studies on a
        MemoryIndex(pairs_in_every_track=True); the store finds pairs in named tracks only)."""
        return self.params.triplet_fan_out is not None

    @property
    def retry_params(self) -> fp.FingerprintParams:
        """The fingerprint of a clip retried at another speed: fewer triplets."""
        return retries.with_fewer_triplets(self.params, self.retry_triplet_fan_out)

    @property
    def wide_screen_params(self) -> fp.FingerprintParams:
        """The fingerprint the wide retries are screened with: their own, fewer triplets."""
        params = retries.with_fewer_triplets(self.params, self.wide_triplet_fan_out)
        return replace(params, triplet_min_wide_peaks=self.wide_screen_min_wide)

    @property
    def smoothed_retry_params(self) -> fp.FingerprintParams | None:
        """The fingerprint of a clip retried smoothed in time: fewer triplets too."""
        if self.smoothed_params is None:
            return None
        return retries.with_fewer_triplets(self.smoothed_params, self.retry_triplet_fan_out)

    def votes(self, fingerprints: fp.Fingerprints, *, window_frames: int | None = None) -> matching.Votes:
        """Look up a clip's hashes in two stages and pair the rows with its offsets.

        With `window_frames` (a long input), candidates are chosen window by window.
        """
        return self.votes_of([fingerprints], window_frames=window_frames)[0]

    def votes_of(
        self, clips: list[fp.Fingerprints], *, window_frames: int | None = None, lookup: Lookup | None = None
    ) -> list[matching.Votes]:
        """Look up several clips' hashes together, one round trip per stage, through `lookup`
        (default: the index's)."""
        if not clips:
            return []
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

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray:
        """The indexed tracks' lengths in frames."""
        return self.index.track_frames(track_ids)

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
        one-stage lookup ask), in one round trip, through `lookup` (default: the index's)."""
        if not clips:
            return []
        if tracks is not None and tracks.size == 0:
            return [matching.Hits.empty() for _ in clips]
        lookup = lookup or self.index.lookup
        hashes = np.concatenate([c.hashes for c in clips])
        rows = lookup(hashes) if tracks is None else lookup(hashes, tracks)
        return matching.join_hits_of([(c.hashes, c.offsets) for c in clips], rows.hashes, rows.track_ids, rows.offsets)

    def decide(
        self, votes: matching.Votes, n_frames: int, looks: int, query: Callable[[], sk.QuerySketch] | None = None
    ) -> matching.Match | None:
        """The calibrated decisions on a clip's votes (recognition/engine/identify/decisions.py),
        the sketches checked only when the landmarks are not sure and `query` can make them."""
        return decisions.decide(
            votes,
            n_frames,
            looks,
            index=self.index,
            params=self.match_params,
            two_stage=self.two_stage,
            sketches=self.sketches,
            query=query,
            measure_speed=self.measure_speed,
        )

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
        """The decision on sketches alone, with SKETCH_SHARE of the bound (None when `sketches` is off)."""
        if not self.sketches:
            return None
        return decisions.check_sketches(
            query,
            votes,
            index=self.index,
            params=self.match_params,
            pair_ranking=pair_ranking,
            n_frames=n_frames,
            looks=looks,
            tracks=tracks,
        )

    def identify(self, samples: np.ndarray, *, prior_looks: int = 0) -> matching.Match | None:
        """Return the match for a clip, trying the retries only when it fails as heard: first its
        peaks picked again on its spectrogram smoothed in time (noise), then denser (a voice-over),
        then the speed variants.

        `prior_looks` counts decisions already taken on the same audio (a listening session), so
        the false-match bound covers them all.
        """
        return self.identify_clip(samples, prior_looks=prior_looks).match

    def identify_clip(self, samples: np.ndarray, *, prior_looks: int = 0) -> ClipAnswer:
        """Return what `identify` does, with the clip's hash count beside the match, so that a
        caller tells silence from unknown music without fingerprinting the clip again."""
        smoothed = self.smoothed_retry_params
        looks, tiers = self.retry_tiers(
            smoothed=smoothed is not None, dense=self.dense_params is not None, prior_looks=prior_looks
        )
        lookup = LookupMemo(self.index.lookup, getattr(self.index, "lookup_later", None))
        # The clip's spectra, computed once for its peaks, its retry smoothed in time and its sketches.
        spectra = fp.Spectra(samples, fft_size=self.params.fft_size, hop_size=self.params.hop_size)
        peaks = fp.constellation(samples, self.params, spectra=spectra)
        clip = fp.hash_constellation(peaks, self.params)
        votes = self.votes_of([clip], lookup=lookup)[0]
        match = self.decide(votes, clip.n_frames, looks, lambda: sk.query_sketch(samples, spectra=spectra))
        # A clip that fails as heard asks the later looks' lookups in every track ahead, on the
        # index's other connection, while its own work goes on (docs/decisions.md, ask_ahead):
        # the denser look's before the smoothed retry, the speed tiers' once that fails too.
        dense = None
        firsts: list[list[fp.Fingerprints] | None] = [None] * len(tiers)
        if match is None and self.dense_params is not None and lookup.asks_ahead:
            dense = fp.fingerprint(samples, self.dense_params, spectra=spectra)
            lookup.ask_ahead([dense.split()[1].hashes])
        if match is None and smoothed is not None:
            match = retries.smoothed_retry(
                self, samples, params=smoothed, candidates=votes.candidates, looks=looks, lookup=lookup, spectra=spectra
            )
        if match is None and tiers and lookup.asks_ahead:
            firsts = [
                retries.first_hashes(
                    peaks,
                    factors=tier.factors,
                    params=tier.params,
                    shifts=tier.shifts,
                    decided=tier.decided,
                    screen=tier.screen,
                )
                for tier in tiers
            ]
            lookup.ask_ahead([np.concatenate([f.split()[1].hashes for f in first]) for first in firsts if first])
        if match is None and self.dense_params is not None:
            if dense is None:
                dense = fp.fingerprint(samples, self.dense_params, spectra=spectra)
            match = self.decide(self.votes_of([dense], lookup=lookup)[0], dense.n_frames, looks)
        for tier, first in zip(tiers, firsts, strict=True):  # the near speeds, then the wide tier
            if match is not None:
                break
            match = retries.speed_retry(
                self,
                peaks,
                factors=tier.factors,
                params=tier.params,
                shifts=tier.shifts,
                looks=tier.looks,
                lookup=lookup,
                decided=tier.decided,
                screen=tier.screen,
                first=first,
            )
        return ClipAnswer(match, len(clip))

    def retry_tiers(
        self, *, times: int = 1, smoothed: bool = True, dense: bool = False, prior_looks: int = 0
    ) -> tuple[int, list[window_retries.Tier]]:
        """The looks each decision on a clip as heard (and smoothed, and at the near speeds)
        counts, and the speed retry tiers with the looks theirs count: the near speeds, then the
        wide tier on `wide_share` of the bound (a weighted Bonferroni bound). `smoothed`: whether
        the clip is retried smoothed in time; `dense`: with its peaks picked denser; `times`:
        clips decided on, each as a clip is (a long input's windows); `prior_looks`: decisions
        already taken on the same audio."""
        looks = times * (1 + smoothed + dense + len(self.speed_variants)) + prior_looks
        tiers = []
        if self.speed_variants:
            tiers.append(window_retries.Tier(self.speed_variants, self.retry_params, self.retry_shifts, looks))
        if self.wide_variants:  # the looks before the wide retries keep 1 - wide_share of the bound
            looks = math.ceil(looks / (1 - self.wide_share))
            tiers[:] = [replace(tier, looks=looks) for tier in tiers]
            tiers.append(
                window_retries.Tier(
                    self.wide_variants,
                    retries.with_fewer_triplets(self.params, self.wide_triplet_fan_out),
                    self.wide_shifts,
                    math.ceil(times * len(self.wide_variants) / self.wide_share),
                    self.wide_decided,
                    self.wide_screen_params,
                )
            )
        return looks, tiers

    def timeline(
        self,
        chunks: Iterator[np.ndarray],
        *,
        window_s: float = 6.0,
        hop_s: float = 3.0,
        lookup_batch_s: float = 60.0,
        progress: Callable[[float], None] | None = None,
        duration_s: float | None = None,
    ) -> long_inputs.Timeline:
        """Match a long recording window by window, looking again with denser peaks and retrying at
        other speeds the windows that find nothing as heard; `progress` hears the fraction done,
        the retries included, given the input's expected `duration_s`
        (recognition/engine/identify/long_inputs.py)."""
        return long_inputs.timeline(
            self,
            chunks,
            window_s=window_s,
            hop_s=hop_s,
            lookup_batch_s=lookup_batch_s,
            progress=progress,
            duration_s=duration_s,
        )
