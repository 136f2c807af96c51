"""Retries of a clip that finds no match as heard: its peaks picked again on its spectrogram
smoothed in time (broadband noise hides fewer of them), then the clip as if played at other
speeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from recognition.engine import arrays, matching
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify.memo import Lookup

__all__ = [
    "RETRY_SHIFTS",
    "RETRY_TRIPLET_FAN_OUT",
    "SPEED_VARIANTS",
    "WIDE_DECIDED",
    "WIDE_SCREEN_MIN_WIDE",
    "WIDE_SHARE",
    "WIDE_SHIFTS",
    "WIDE_TRIPLET_FAN_OUT",
    "WIDE_VARIANTS",
    "Factor",
    "Stages",
    "Variant",
    "hashed",
    "pitch_grid",
    "smoothed_retry",
    "speed_grid",
    "speed_retries",
    "speed_retry",
    "tempo_grid",
    "time_and_frequency",
    "with_fewer_triplets",
]

Factor = float | tuple[float, float]

# Radio edits, turntables and some players run 1-2 % fast or slow, which moves every peak's
# frequency and time. A clip that finds no match as heard is retried as if played at these
# speeds, its peaks moved rather than found again (fp.hash_constellation); the +-1 frame/+-1 bin
# tolerance of the hashes covers about 0.5 % either side of each.
SPEED_VARIANTS = (0.99, 1.01, 0.98, 1.02)

# A retried clip takes its triplets from every two of its anchors' 6 nearest targets (15 per
# anchor) instead of 8 (28; fp.QUERY_TRIPLET_FAN_OUT): once moved to the right speed it is as
# clean as it was heard, and looking up four speeds' triplets at once is the slowest part of the
# slowest queries, those that find no match as heard. 6 loses no answer that 8 finds; 5 starts
# to (docs/decisions.md, RETRY_TRIPLET_FAN_OUT). The retry smoothed in time takes 6 too.
RETRY_TRIPLET_FAN_OUT = 6

# Sub-frame shifts a speed retry hashes (of the query's `shifts`): both. One would look up fewer
# triplet values in every track, the cost that grows with the catalog, but loses short clips
# played fast or slow (docs/decisions.md, RETRY_SHIFTS).
RETRY_SHIFTS = 2

# Wider changes (creators' sped-up and slowed edits, DJs' pitch and tempo) are retried last, each
# speed a look of its own, but on a small share of the false-match bound (a weighted Bonferroni
# bound: the looks before them keep 1 - WIDE_SHARE of it and barely move): a clip found at the
# right speed is usually stronger evidence by orders of magnitude than the bound asks, while the
# clips decided near the bound as heard keep theirs (docs/decisions.md, WIDE_SHARE).
WIDE_SHARE = 0.1


# The wide retries cover what creators, DJs and radio do to a song: played every 1 % from 20 %
# slow to 25 % fast (beyond the near speeds), pitch moved every 1 % within 2 semitones either way
# with the tempo kept, and tempo changed every 2 % within 10 % with the pitch kept (frames alone:
# a tempo change keeps a note's bins, and the hashes' +-1 frame covers 1 % of a 1 s zone either
# side). Each factor is what the clip's peaks are moved by: a clip played 5 % fast is found at
# 1 / 1.05 (docs/decisions.md, WIDE_SHARE).
def speed_grid(slowest: float, fastest: float, *, skip: float = 0.0, step: float = 0.01) -> tuple[float, ...]:
    """Retry factors for clips played at every `step` from `slowest` to `fastest` times the
    speed, those within `skip` of 1 left out, nearest to 1 first."""
    k = np.arange(np.ceil((slowest - 1) / step - 1e-9), np.floor((fastest - 1) / step + 1e-9) + 1)
    speeds = [float(1 + i * step) for i in k if abs(i * step) > skip + 1e-9]
    return tuple(round(1 / s, 6) for s in sorted(speeds, key=lambda s: (abs(s - 1), s)))


def pitch_grid(semitones: float) -> tuple[tuple[float, float], ...]:
    """(1, frequency) retries for clips transposed by up to `semitones` either way, every 1 %
    and half a step beyond the ends, tempo kept."""
    top = 2 ** (semitones / 12)
    return tuple((1.0, f) for f in speed_grid(1 / top - 0.005, top + 0.005))


def tempo_grid(change: float) -> tuple[tuple[float, float], ...]:
    """(time, 1) retries for clips up to `change` faster or slower, every 2 %, pitch kept."""
    return tuple((t, 1.0) for t in speed_grid(1 - change, 1 + change, step=0.02))


WIDE_VARIANTS: tuple[Factor, ...] = (*speed_grid(0.80, 1.25, skip=0.02), *pitch_grid(2.0), *tempo_grid(0.10))

# A wide retry hashes its triplets from 4 nearest targets of each anchor, at one sub-frame shift:
# the values unknown audio looks up in every track for all the wide retries stay a small
# multiple of what it looks up as heard (docs/decisions.md, WIDE_SHARE).
WIDE_TRIPLET_FAN_OUT = 4
WIDE_SHIFTS = 1

# The screen looks each wide retry up with only the triplets whose three peaks are all maxima of
# a reference's neighbourhood (the query's own triplets need two of three): it ranks the retries,
# it decides nothing, and the values unknown audio looks up in every track for the whole wide tier
# fall by about 40 % (docs/decisions.md, WIDE_SCREEN_MIN_WIDE).
WIDE_SCREEN_MIN_WIDE = 3

# Of the wide retries, only the few whose triplets align best with any track (one ranking of all
# of them) are decided on: the right speed stands out among its neighbours, and deciding on every
# speed was most of the time an unknown clip took (docs/decisions.md, WIDE_DECIDED).
WIDE_DECIDED = 3


class Stages(Protocol):
    """What a retry asks of the Identifier: its two-stage lookups and its decisions."""

    def votes_of(self, clips: list[fp.Fingerprints], *, lookup: Lookup | None = None) -> list[matching.Votes]: ...

    def lookup_hits(
        self, clips: list[fp.Fingerprints], tracks: np.ndarray | None = None, *, lookup: Lookup | None = None
    ) -> list[matching.Hits]: ...

    def decide(
        self, votes: matching.Votes, n_frames: int, looks: int, query: Callable[[], sk.QuerySketch] | None = None
    ) -> matching.Match | None: ...

    def track_frames(self, track_ids: np.ndarray) -> np.ndarray: ...

    @property
    def match_params(self) -> matching.MatchParams: ...


def with_fewer_triplets(params: fp.FingerprintParams, fan_out: int) -> fp.FingerprintParams:
    """`params` with triplets from at most `fan_out` nearest targets of each anchor."""
    if params.triplet_fan_out is None or params.triplet_fan_out <= fan_out:
        return params
    return replace(params, triplet_fan_out=fan_out)


def smoothed_retry(
    engine: Stages,
    samples: np.ndarray,
    *,
    params: fp.FingerprintParams,
    candidates: np.ndarray | None,
    looks: int,
    lookup: Lookup | None = None,
    spectra: fp.Spectra | None = None,
) -> matching.Match | None:
    """Return the decision on the clip's peaks picked on its spectrogram smoothed in time, where
    broadband noise hides fewer of them, looked up in the tracks stage 1 chose for the clip as
    heard: the true track is usually among them (the decision is what failed), and a lookup in
    a few tracks costs the same however large the catalog. Decided on pairs and triplets: the
    sketches were checked as heard, and the clip's sketch does not change with smoothing.
    `spectra`: the clip's spectra as heard, which smoothing starts from."""
    clip = fp.fingerprint(samples, params, spectra=spectra)
    if candidates is None:  # one stage: pairs in every track
        votes = engine.votes_of([clip], lookup=lookup)[0]
    else:
        hits = engine.lookup_hits([clip], candidates, lookup=lookup)[0]
        triplet = fp.is_triplet(hits.hashes)
        votes = matching.Votes(hits.select(~triplet), hits.select(triplet))
    return engine.decide(votes, clip.n_frames, looks)


def time_and_frequency(factor: Factor) -> tuple[float, float]:
    """A retry's (time, frequency) factors: a plain speed moves both alike."""
    return (factor, factor) if isinstance(factor, float | int) else (float(factor[0]), float(factor[1]))


def speed_retry(
    engine: Stages,
    peaks: fp.Constellation,
    *,
    factors: tuple[Factor, ...],
    params: fp.FingerprintParams,
    shifts: int,
    looks: int,
    lookup: Lookup | None = None,
    decided: int | None = None,
    screen: fp.FingerprintParams | None = None,
    first: list[fp.Fingerprints] | None = None,
) -> matching.Match | None:
    """Return the best decision on the clip as if played at each speed of `factors`, its peaks
    of `shifts` sub-frame shifts moved and hashed with `params`, all in one lookup per stage. A
    factor is a speed (time and frequency together, as a tape runs) or a (time, frequency) pair;
    the match reports the change it undid: the clip ran 1 / time as fast as the track (times the
    speed its retried votes still drift at, when they measure it), and its pitch was moved by the
    inverse of the frequency factor.

    `decided`: decide on only that many factors, those whose triplets align best with any track
    in one ranking of them all (None: every factor). The bound still counts every factor as a
    look (`looks`), so skipping the others can only make a false match rarer (WIDE_DECIDED).
    `screen`: the fingerprint settings the factors are screened with (None: `params`).
    `first`: what `first_hashes` returns for the same arguments, if the caller hashed it already."""
    moved = fp.Constellation(peaks.peaks[:shifts], peaks.n_frames)
    if first is None:
        first = first_hashes(peaks, factors=factors, params=params, shifts=shifts, decided=decided, screen=screen)
    if decided is not None and _screened(factors, decided, screen):
        # Screened on their own hashes, only the factors kept are hashed with `params`.
        kept = _screen(engine, first, np.zeros(len(factors), np.int64), decided, lookup=lookup)
        factors, decided = tuple(factors[i] for i in kept), None
        first = hashed_all(moved, factors, params)
    variants = [Variant(0, factor, hashes) for factor, hashes in zip(factors, first, strict=True)]
    (found,) = speed_retries(engine, variants, 1, looks=looks, lookup=lookup, decided=decided)
    return None if found is None else found[0]


def _screened(factors: tuple[Factor, ...], decided: int | None, screen: fp.FingerprintParams | None) -> bool:
    return decided is not None and screen is not None and decided < len(factors)


def first_hashes(
    peaks: fp.Constellation,
    *,
    factors: tuple[Factor, ...],
    params: fp.FingerprintParams,
    shifts: int,
    decided: int | None = None,
    screen: fp.FingerprintParams | None = None,
) -> list[fp.Fingerprints]:
    """What `speed_retry` hashes first and looks up in every track: each factor's screen
    triplets when it screens its factors, else each factor's hashes."""
    moved = fp.Constellation(peaks.peaks[:shifts], peaks.n_frames)
    if screen is not None and _screened(factors, decided, screen):
        return hashed_all(moved, factors, screen, pairs=False)
    return hashed_all(moved, factors, params)


@dataclass(frozen=True)
class Variant:
    """A clip's hashes as if played at another speed: which clip, the factor, the hashes."""

    clip: int
    factor: Factor
    fingerprints: fp.Fingerprints
    screen: fp.Fingerprints | None = None  # the hashes it is screened with (None: `fingerprints`)


def hashed(
    peaks: fp.Constellation, factor: Factor, params: fp.FingerprintParams, *, pairs: bool = True
) -> fp.Fingerprints:
    """The peaks' hashes as if played at `factor` (moved, not found again); `pairs=False`: the
    triplets alone, all a screen looks up."""
    return hashed_all(peaks, (factor,), params, pairs=pairs)[0]


def hashed_all(
    peaks: fp.Constellation, factors: tuple[Factor, ...], params: fp.FingerprintParams, *, pairs: bool = True
) -> list[fp.Fingerprints]:
    """`hashed` at every factor, in one pass over them all (fp.hash_variants): a screen's
    triplets alone at the wide tier's factors cost a third of hashing each factor whole apart
    (docs/decisions.md, hash_variants)."""
    return fp.hash_variants(peaks, params, [time_and_frequency(factor) for factor in factors], pairs=pairs)


def speed_retries(
    engine: Stages,
    variants: list[Variant],
    clips: int,
    *,
    looks: int,
    lookup: Lookup | None = None,
    decided: int | None = None,
) -> list[tuple[matching.Match, Factor] | None]:
    """The decisions on the variants of `clips` clips (a long input's windows) in one lookup per
    stage for all of them: each clip's best match, as `speed_retry` reports it, and the factor
    that found it, or None. `decided` keeps that many factors of each clip, from one ranking of
    every clip's variants."""
    owners = np.array([v.clip for v in variants], np.int64)
    if decided is not None and owners.size and int(np.bincount(owners).max()) > decided:
        variants = [
            variants[i]
            for i in _screen(
                engine,
                [v.fingerprints if v.screen is None else v.screen for v in variants],
                owners,
                decided,
                lookup=lookup,
            )
        ]
    best: list[tuple[matching.Match, Factor] | None] = [None] * clips
    all_votes = engine.votes_of([v.fingerprints for v in variants], lookup=lookup)
    for variant, votes in zip(variants, all_votes, strict=True):
        found = engine.decide(votes, variant.fingerprints.n_frames, looks)
        held = best[variant.clip]
        if found is not None and (held is None or found.log10_p < held[0].log10_p):
            t, f = time_and_frequency(variant.factor)
            # Offsets were measured at the retried speed: scale back to the clip as heard. The
            # speed the retried votes still drift at (decide measures it) refines the factor's.
            match = matching.Match(
                track_id=found.track_id,
                offset_frames=found.offset_frames,
                score=found.score,
                log10_p=found.log10_p,
                first_frame=int(found.first_frame * t),
                last_frame=int(found.last_frame * t),
                candidates=found.candidates,
                speed=found.speed / t,
                pitch_semitones=-12 * float(np.log2(f)),
            )
            best[variant.clip] = (match, variant.factor)
    return best


def _screen(
    engine: Stages, variants: list[fp.Fingerprints], owners: np.ndarray, count: int, *, lookup: Lookup | None
) -> list[int]:
    """Which `count` variants of each clip (`owners`: the clip of each variant) have the
    strongest triplet alignment with any track, their positions in order, from one ranking of
    all their votes, each (track, variant) ranked as a track of its own: ranking each variant
    apart was most of a wide retry's time."""
    triplets = [clip.split()[1] for clip in variants]
    hits = engine.lookup_hits(triplets, lookup=lookup)
    n = len(variants)
    if n == 0:
        return []
    tagged = matching.Hits(
        hashes=np.concatenate([h.hashes for h in hits]),
        track_ids=np.concatenate([h.track_ids * n + i for i, h in enumerate(hits)]),
        db_offsets=np.concatenate([h.db_offsets for h in hits]),
        query_offsets=np.concatenate([h.query_offsets for h in hits]),
    )
    if len(tagged) == 0:
        return []
    ranking = matching.rank_tracks(
        tagged,
        max(v.n_frames for v in variants),
        lambda ids: engine.track_frames(np.asarray(ids) // n),
        engine.match_params,
    )
    variant = ranking.track_ids % n
    strongest = np.full(n, np.inf)
    np.minimum.at(strongest, variant, ranking.log10_p)
    voted = np.flatnonzero(np.isfinite(strongest))
    # Each clip's strongest first (a stable sort keeps the earlier factor on a tie).
    order = voted[np.lexsort((strongest[voted], owners[voted]))]
    return sorted(order[arrays.rank_in_runs(owners[order]) < count].tolist())
