"""Landmark fingerprints: samples -> log spectrogram -> spectral peaks -> paired, packed hashes.

The method is Wang's (2003) constellation map, as in Shazam and Dejavu, with choices of our own
that decide accuracy and storage (each value's why is in `params`; the sweeps behind them in
docs/decisions.md):

* Peaks are neighbourhood maxima of the log spectrogram, picked with a vectorised maximum filter,
  refined to a fraction of a frame and bin, and thinned to a budget per block of time and per
  frequency band, so loud passages cannot crowd out quiet ones and bass cannot crowd out the
  mid-band (and the reverse).
* References and queries are fingerprinted asymmetrically. A reference keeps ~20 peaks a second
  and pairs each anchor with its 2 nearest targets (~26 hashes a second: what is stored must be
  small). A query keeps several times more peaks, pairs every anchor with every peak in its
  target zone and is fingerprinted at two sub-frame shifts, so its hashes are nearly a superset
  of the reference's even when noise reorders which peaks are strongest.
* Two kinds of hash, each with the anchor frame as its time offset. A pair packs (anchor bin,
  target bin, dt) into 21 bits. A triplet packs an anchor and two of its targets into 32 bits:
  ~10 bits more selective, so a lookup reads far fewer rows, but more fragile under noise.
  Lookups use triplets to choose a few candidate tracks, then decide on the candidates' pairs
  or, when stronger (short clips), on the triplets (`recognition/engine/identify/`). A query makes
  triplets only where most of their peaks are maxima a reference could have picked. Their values
  lie in disjoint ranges; the store keeps each kind in the layout its lookup needs
  (`recognition/store/`).

The steps, one module each: `params` (every value, with why it is that value), `peaks`
(spectrogram and constellation), `hashes` (pairs, triplets, pooling) and `streaming` (the same
hashes from audio as it arrives). Import from the package: the names below are its surface.

No Django here: numpy and scipy only, so the engine runs in benchmarks, workers and fuzzers alone.
"""

from __future__ import annotations

from recognition.engine.fingerprint.hashes import (
    Fingerprints,
    fingerprint,
    hash_constellation,
    hash_variants,
    is_triplet,
    merge_fingerprints,
    pair_peaks,
)
from recognition.engine.fingerprint.params import (
    MAX_ROWS_PER_TRIPLET,
    QUERY,
    QUERY_DENSE,
    QUERY_DENSE_CLIP,
    QUERY_SMOOTHED,
    QUERY_TRIPLET_FAN_OUT,
    REFERENCE,
    FingerprintParams,
    frames_to_seconds,
)
from recognition.engine.fingerprint.peaks import Constellation, Spectra, constellation, find_peaks, spectrogram_db
from recognition.engine.fingerprint.streaming import StreamingFingerprinter

__all__ = [
    "MAX_ROWS_PER_TRIPLET",
    "QUERY",
    "QUERY_DENSE",
    "QUERY_DENSE_CLIP",
    "QUERY_SMOOTHED",
    "QUERY_TRIPLET_FAN_OUT",
    "REFERENCE",
    "Constellation",
    "FingerprintParams",
    "Fingerprints",
    "Spectra",
    "StreamingFingerprinter",
    "constellation",
    "find_peaks",
    "fingerprint",
    "frames_to_seconds",
    "hash_constellation",
    "hash_variants",
    "is_triplet",
    "merge_fingerprints",
    "pair_peaks",
    "spectrogram_db",
]
