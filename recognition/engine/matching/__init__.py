"""Offset-alignment voting with a calibrated decision: candidate rows -> Match or no match.

A query hash that also occurs in a track at `db_offset` votes for that track at the time
difference `db_offset - query_offset`, binned in half frames. A true match piles votes onto one
difference (within half a frame); an unrelated track scatters its chance collisions over all
differences. The unit of evidence is a reference anchor frame (all hashes of one moment count
once), and a track's score is the number of distinct anchor frames in its best window of 3 half
frames.

Calibration. For an unrelated track, chance votes fall at random over the B = 2 (L_track +
L_query) possible half-frame differences, so a window's count is Poisson with mean mu = 3 n / B,
n being the track's votes; where the votes around the best window are denser than that (a
passage that resembles anything), the local density is used instead. The chance that any window
of any candidate track reaches the observed score is then bounded (Bonferroni) by

    p = tracks_with_votes * looks * B * P(Poisson(mu) >= score)

and the confidence reported is 1 - p. A match is declared only when p <= max_false_match_rate,
so unknown audio comes back as "no match" whatever the catalog size or query length: there is
no fixed "N hashes" threshold. `looks` counts the decisions a caller takes (streaming batches,
speed variants) so repeated tries do not inflate false matches. The threshold itself is set from
false matches on never-indexed music (see MatchParams).

hits.py pairs stored rows with the query (Hits); scoring.py ranks the voted tracks and takes the
decision (Match); votes.py holds a clip's votes from both stages of a lookup (Votes); timeline.py
merges the windows of a long input into segments; drift.py measures a match's speed from how its
votes drift across the clip (`measured`); changes.py decides when a match's speed and pitch differ
enough from the track's to be reported (Change). numpy/scipy only; no Django.
"""

from recognition.engine.matching.changes import MIN_PITCH_SEMITONES, MIN_SPEED_CHANGE, Change, reported_change
from recognition.engine.matching.drift import measured
from recognition.engine.matching.hits import Hits, join_hits, join_hits_of
from recognition.engine.matching.scoring import (
    DEFAULT_PARAMS,
    Match,
    MatchParams,
    Ranking,
    best_match,
    rank_tracks,
    top_tracks,
)
from recognition.engine.matching.timeline import Segment, segments, timeline, window_count, window_matches
from recognition.engine.matching.votes import Votes

__all__ = [
    "DEFAULT_PARAMS",
    "MIN_PITCH_SEMITONES",
    "MIN_SPEED_CHANGE",
    "Change",
    "Hits",
    "Match",
    "MatchParams",
    "Ranking",
    "Segment",
    "Votes",
    "best_match",
    "join_hits",
    "join_hits_of",
    "measured",
    "rank_tracks",
    "reported_change",
    "segments",
    "timeline",
    "top_tracks",
    "window_count",
    "window_matches",
]
