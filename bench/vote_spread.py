"""Study: how far a true match's votes fall from its alignment, in half frames.

    .venv/bin/python bench/vote_spread.py
    .venv/bin/python bench/vote_spread.py --cells clean:5,white0:5 --clips 60

Fresh clips of the catalog (as bench/noise_study.py makes them), an in-memory index. For each
clip, the votes of its pairs and triplets in the true track, as (stored - query offset) in half
frames, counted around the clip's own centre: the commonest half frame within a second of the
true start (an MP3 round trip delays the audio by a few frames). Each line gives the share of
votes at -6..+6 half frames and the votes counted. It decides how wide the matcher's window of
differences is (recognition/engine/matching/scoring.py, MatchParams.cells_per_frame). For choosing,
not for quoting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import corpus  # noqa: E402
import noise_study  # noqa: E402

from recognition.engine import fingerprint as fp  # noqa: E402
from recognition.engine.identify import Identifier  # noqa: E402
from recognition.engine.memory import MemoryIndex  # noqa: E402

RATE = fp.QUERY.sample_rate_hz
REACH = 6  # half frames either side of the centre that are counted
CELLS = "clean:5,white0:5,white-5:5,room:2,phone:2,mp3:5,music0:3"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default=CELLS, help="condition:seconds, comma-separated")
    parser.add_argument("--clips", type=int, default=60, help="clips a cell")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    manifest = corpus.load_or_build(HERE / "out" / "corpus.json")
    index = MemoryIndex()
    tracks = {}
    for track_id, item in enumerate(manifest["indexed"]):
        tracks[track_id] = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(tracks[track_id], fp.REFERENCE))
    engine = Identifier(index, sketches=False)

    print(f"{args.clips} clips a cell; share of the true track's votes at -{REACH}..+{REACH} half frames")
    for cell in args.cells.split(","):
        condition, seconds = cell.split(":")
        rng = np.random.default_rng([args.seed, *map(ord, cell)])
        n = int(float(seconds) * RATE)
        counts = {"pairs": np.zeros(2 * REACH + 1), "triplets": np.zeros(2 * REACH + 1)}
        for _ in range(args.clips):
            track_id, start = noise_study.place_clip(rng, tracks, n)
            x = noise_study.distort(condition, tracks[track_id], start, n, rng, manifest).astype(np.float32)
            votes = engine.votes(fp.fingerprint(x, fp.QUERY))
            true = 2 * start / fp.QUERY.hop_size
            halves = {}
            for kind, hits in (("pairs", votes.pairs), ("triplets", votes.triplets)):
                mine = hits.track_ids == track_id
                halves[kind] = np.rint(2 * (hits.db_offsets[mine] - hits.query_offsets[mine])).astype(np.int64)
            near = np.concatenate(list(halves.values()))
            near = near[np.abs(near - true) <= 2 * fp.QUERY.frames_per_second]
            if near.size == 0:
                continue
            values, votes_at = np.unique(near, return_counts=True)
            centre = values[np.argmax(votes_at)]
            for kind, diffs in halves.items():
                off = diffs - centre
                counts[kind] += np.bincount(off[np.abs(off) <= REACH] + REACH, minlength=2 * REACH + 1)
        for kind, hist in counts.items():
            shares = " ".join(f"{v / max(hist.sum(), 1):.2f}" for v in hist)
            within = hist[REACH - 1 : REACH + 2].sum() / max(hist.sum(), 1)
            print(f"{cell:10s} {kind:8s} {shares} | +-1 half frame {within:.1%} of {int(hist.sum())}", flush=True)


if __name__ == "__main__":
    main()
