"""Which of a query's triplets stage 1 needs: how many of their peaks are "wide", against which
of them meet the true track at the true place.

    .venv/bin/python bench/triplet_study.py [--per-cell 15] [--conditions clean,white0,...]

A reference's peaks are maxima of a wider neighbourhood than a query's (params.py). For the
benchmark's 5 s catalog queries, every distinct triplet value the query looks up is counted
once, by the most of its three peaks that are maxima of the reference's neighbourhood too (a
value made at both sub-frame shifts counts its better making), and counted again when the
reference of the query's own track stores it within 1.5 frames of the clip's true place. The
shares say what stage 1 would keep, and lose, by asking only for triplets with k wide peaks or
more (`triplet_min_wide_peaks`). For choosing, not for quoting.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402
import queries as query_set  # noqa: E402

from recognition.engine import audio  # noqa: E402
from recognition.engine import fingerprint as fp  # noqa: E402

CONDITIONS = "clean,white0,white-5,music0,phone,room"


def _triplets(samples: np.ndarray, params: fp.FingerprintParams) -> tuple[np.ndarray, np.ndarray]:
    triplets = fp.fingerprint(samples, params).split()[1]
    return triplets.hashes, triplets.offsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-cell", type=int, default=15)
    parser.add_argument("--conditions", default=CONDITIONS)
    args = parser.parse_args()
    conditions = args.conditions.split(",")
    manifest = corpus.load_or_build(HERE / "out" / "corpus.json")
    stored = {}
    for item in manifest["indexed"]:
        hashes, offsets = _triplets(corpus.decoded(item["path"]), fp.REFERENCE)
        order = np.argsort(hashes, kind="stable")
        stored[item["path"]] = (hashes[order], np.rint(offsets[order]))
    wide_sets = [replace(fp.QUERY, triplet_min_wide_peaks=k) for k in range(4)]

    asked = np.zeros(4)  # distinct values with at least k wide peaks
    true = np.zeros(4)  # ... that the true track stores at the true place
    taken = dict.fromkeys(conditions, 0)
    for query in query_set.build(manifest, HERE / "out" / "queries", 50, 100):
        if query.kind != "known" or query.length_s != 5 or taken.get(query.condition, args.per_cell) >= args.per_cell:
            continue
        taken[query.condition] += 1
        samples = audio.decode(query.path, sample_rate_hz=8000, max_seconds=30)
        ref_hashes, ref_offsets = stored[query.source]
        place = query.start_s * fp.QUERY.frames_per_second
        for k, params in enumerate(wide_sets):
            hashes, offsets = _triplets(samples, params)
            lo = np.searchsorted(ref_hashes, hashes, side="left")
            hi = np.searchsorted(ref_hashes, hashes, side="right")
            at_place = [
                bool(np.any(np.abs(ref_offsets[a:b] - (place + o)) <= 1.5))
                for a, b, o in zip(lo, hi, offsets, strict=True)
            ]
            asked[k] += np.unique(hashes).size
            true[k] += np.unique(hashes[np.asarray(at_place, bool)]).size
    print(f"5 s catalog clips: {taken}; {asked[0]:.0f} distinct triplet values, {true[0]:.0f} at the true place")
    for k in (3, 2, 1, 0):
        print(
            f"at least {k} of 3 peaks wide: values {100 * asked[k] / asked[0]:5.1f} %, "
            f"at the true place {100 * true[k] / true[0]:5.1f} %"
        )


if __name__ == "__main__":
    main()
