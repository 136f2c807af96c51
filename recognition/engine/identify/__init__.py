"""Identification: a clip's fingerprints + a hash index -> Match, with retries for noise and speed.

The engine's entry point for callers that hold a hash index (recognition/engine/index.py: the
PostgreSQL store in the portal, an in-memory index in the benchmark and the tests).

Every lookup has two stages. Stage 1 looks up the clip's triplet hashes, which are selective
enough that it reads few rows however large the table, and keeps the few tracks whose triplets
align best. Stage 2 reads only those tracks' pairs (the store keeps them per track, with no
index by hash). The calibrated decision is then taken on the candidates' pairs and on the
triplets, and when neither is sure, on the tracks' frame sketches (recognition/engine/sketch/):
each decision spends its share of one false-match threshold. A clip that finds no match as
heard is tried again with its peaks picked on its spectrogram smoothed in time, in the tracks
stage 1 chose, then as if played at other speeds. Audio that arrives in pieces is identified by
recognition/engine/listening.py, which takes the same decisions on all it has heard so far.

One module per job: `identifier` (the Identifier: two-stage lookups and the flow of a clip),
`decisions` (the calibrated decisions and their shares of the bound), `retries` (smoothed in
time, at other speeds), `long_inputs` (a recording window by window), `window_retries` (its
windows that find nothing as heard, at other speeds) and `memo` (each value asked of the index
once per clip).
"""

from recognition.engine.identify.decisions import PAIR_SHARE, SKETCH_SHARE, TRIPLET_SHARE
from recognition.engine.identify.identifier import CANDIDATES, ClipAnswer, Identifier
from recognition.engine.identify.long_inputs import Timeline
from recognition.engine.identify.memo import LookupMemo
from recognition.engine.identify.retries import RETRY_SHIFTS, RETRY_TRIPLET_FAN_OUT, SPEED_VARIANTS

__all__ = [
    "CANDIDATES",
    "PAIR_SHARE",
    "RETRY_SHIFTS",
    "RETRY_TRIPLET_FAN_OUT",
    "SKETCH_SHARE",
    "SPEED_VARIANTS",
    "TRIPLET_SHARE",
    "ClipAnswer",
    "Identifier",
    "LookupMemo",
    "Timeline",
]
