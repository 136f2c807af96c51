"""How many probes each way of keeping the presence filter lets through, on the grown catalog.

    .venv/bin/python bench/filter_study.py [--queries 20] [--db earshot_growth]

Records the values catalog and never-seen 5 s clips ask of stage 1 (as heard and retried), reads
every stored triplet value, and counts for each filter layout the values that pass although no
row holds them (recognition/store/presence.py keeps one of these). For choosing, after `make growth`.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

LOW32 = np.uint64(0xFFFFFFFF)


def _hashed(multiplier: int, salt: int = 0):
    def bit_place(values: np.ndarray) -> np.ndarray:
        return ((values ^ np.uint64(salt)) * np.uint64(multiplier)) & LOW32

    return bit_place


ENGINE_MULTIPLIER = 2654435761  # recognition/store/presence.py's: "hashed, 1 bit, 2^28" is the engine's
SECOND = _hashed(2246822519, 0x27D4EB2F)
LAYOUTS = {  # name: (bits, one function per bit set for a value)
    "top bits (a bit per 16 neighbouring values)": (28, [lambda v: v]),
    "hashed, 1 bit, 2^28 (32 MB)": (28, [_hashed(ENGINE_MULTIPLIER)]),
    "hashed, 2 bits, 2^28 (32 MB)": (28, [_hashed(ENGINE_MULTIPLIER), SECOND]),
    "hashed, 1 bit, 2^29 (64 MB)": (29, [_hashed(ENGINE_MULTIPLIER)]),
    "hashed, 2 bits, 2^29 (64 MB)": (29, [_hashed(ENGINE_MULTIPLIER), SECOND]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--db", default="earshot_growth")
    args = parser.parse_args()
    import growth

    growth.open_database(args.db)
    from django.db import connection

    from recognition.services import identifier
    from recognition.store import presence
    from recognition.store.copy_format import copy_body

    assert int(presence._MULTIPLIER) == ENGINE_MULTIPLIER  # the engine's layout is among those compared

    queries, _ = growth.load_queries(args.queries)
    engine = identifier()
    asked: dict[str, list[np.ndarray]] = {"known": [], "foreign": []}
    lookup, kind = engine.index.lookup, ["known"]

    def recorded(hashes, tracks=None, **kwargs):
        if tracks is None:
            asked[kind[0]].append(np.unique(np.asarray(hashes, np.int64)))
        return lookup(hashes, tracks, **kwargs)

    engine.index.lookup = recorded
    for query, samples in queries:
        kind[0] = query["kind"]
        engine.identify(samples)
    buffer = io.BytesIO()
    every_value = "COPY (SELECT hash FROM recognition_fingerprint) TO STDOUT WITH (FORMAT binary)"
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(every_value, buffer)
    column = np.dtype([("fields", ">i2"), ("length", ">i4"), ("hash", ">i4")])
    values = np.frombuffer(copy_body(buffer), dtype=column)["hash"].astype(np.int64)
    stored = np.unique(values.astype(np.uint64) & LOW32)
    del buffer, values
    print(f"{stored.size:,} distinct stored triplet values")
    for name, (bits, places) in LAYOUTS.items():
        bitmap = np.zeros(1 << bits, bool)
        for place in places:
            bitmap[place(stored) >> np.uint64(32 - bits)] = True
        line = [f"{name}: {100 * bitmap.mean():.0f} % set"]
        for clips, values in asked.items():
            wanted = np.concatenate(values).astype(np.uint64) & LOW32
            held = np.isin(wanted, stored)
            passes = np.logical_and.reduce([bitmap[place(wanted) >> np.uint64(32 - bits)] for place in places])
            assert passes[held].all()
            line.append(
                f"{'catalog' if clips == 'known' else 'never-seen'} clips: {wanted.size:,} values, "
                f"{held.sum():,} stored, {passes.sum():,} probes, {100 * passes[~held].mean():.1f} % of the rest pass"
            )
        print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
