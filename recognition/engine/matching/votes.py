"""A clip's votes from both stages of a lookup, as the decisions take them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recognition.engine.matching.hits import Hits
from recognition.engine.matching.scoring import Ranking

__all__ = ["Votes"]


@dataclass(frozen=True)
class Votes:
    """A clip's votes from both stages: its triplets in every track, its pairs in the candidates,
    and stage 1's ranking of the triplet votes, which the decision on triplets reuses (in a
    large catalog they vote for thousands of tracks, and ranking them is not free)."""

    pairs: Hits
    triplets: Hits
    triplet_ranking: Ranking | None = None  # of `triplets`; None: rank them when deciding
    candidates: np.ndarray | None = None  # the tracks stage 1 chose (None: one stage)
