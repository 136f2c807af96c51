"""Study of short clips in a room (issue 38): where they fail, and whether a look of their own helps.

    .venv/bin/python -m bench.studies.room

The robustness set's `room-dr0` clips (1, 2 and 3 s of the never-seen package, RT60 0.4 s, as
much reverberant as direct sound; `bench/queries.py`) against the in-memory index of
bench/studies/robustness.py, in two parts:

- peaks: of the reference's peaks within a clip's span, the share the clip's own peaks (the
  query's settings) hold within a bin and within half a frame, one, two and four frames; and the
  reference's pair hashes the clip's pairs hold at the true offset (within a frame), as they are
  and with each pair also emitted at dt +-1. The same for the clean excerpt at the same place.
- looks: clips answered right by the engine as it is, and by one more look on the clips it does
  not answer: the clip's pairs and triplets also emitted at dt +-1 (a peak the room delays by a
  frame moves dt), decided with the votes' window as it is and four times as wide; and the
  never-indexed clips of the set that this look names as a track.

Results go to bench/results/room.json; docs/decisions.md quotes them through the `room` report
block (`make report`).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace

import numpy as np

from bench import OUT, RESULTS, corpus, versions
from bench import queries as query_set
from bench.studies import robustness
from recognition.engine import fingerprint as fp
from recognition.engine.identify import Identifier

RESULTS_FILE = RESULTS / "room.json"
RATE = fp.QUERY.sample_rate_hz
HOP = fp.QUERY.hop_size
TIME_WINDOWS = (0.5, 1.0, 2.0, 4.0)  # frames
DT_BITS = fp.REFERENCE.hash_bits[1]  # a pair's dt sits in its low bits, a triplet's two in its low 10
WIDE_TOLERANCE_CELLS = 4  # the votes' window four times as wide as the engine's (matching.MatchParams)


def jittered(hashes: np.ndarray, offsets: np.ndarray, *, triplets: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each hash also at its dt (a triplet: each of its two dts) one frame shorter and longer."""
    mask = (1 << DT_BITS) - 1
    steps = [(0, d) for d in (-1, 0, 1)] if not triplets else [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    values = hashes.astype(np.int64)
    dt_last, dt_first = values & mask, (values >> DT_BITS) & mask
    out, where = [], []
    for first, last in steps:
        ok = (dt_last + last >= 1) & (dt_last + last <= mask)
        if triplets:
            ok &= (dt_first + first >= 1) & (dt_first + first <= mask)
        out.append(values[ok] + (first << DT_BITS) + last)
        where.append(offsets[ok])
    return np.concatenate(out).astype(np.int32), np.concatenate(where).astype(np.float32)


def jitter_look(engine: Identifier, samples: np.ndarray, looks: int):
    """The clip's hashes with every dt +-1 frame, looked up and decided as a clip is."""
    clip = fp.fingerprint(samples, engine.params)
    pairs, triplets = clip.split()
    parts = [
        fp.Fingerprints(*jittered(pairs.hashes, pairs.offsets, triplets=False), 0),
        fp.Fingerprints(*jittered(triplets.hashes, triplets.offsets, triplets=True), 0),
    ]
    widened = fp.merge_fingerprints(parts, clip.n_frames)
    return engine.decide(engine.votes(widened), widened.n_frames, looks)


def excerpt(query: query_set.Query) -> tuple[np.ndarray, np.ndarray]:
    """The clean excerpt at the clip's place, and the whole source (engine rate)."""
    source = corpus.decoded(query.source)
    start = round(query.start_s * RATE)
    return source[start : start + round(query.length_s * RATE)], source


def peak_shares(
    clip: np.ndarray, reference: fp.Constellation, start_frame: float, params: fp.FingerprintParams = fp.QUERY
) -> dict:
    """How many of the reference's peaks in the clip's span the clip's peaks (picked with
    `params`) hold, by time window."""
    ref_frames, ref_bins, _, _ = reference.peaks[0]
    frames, bins, shift, _ = fp.constellation(clip, params).peaks[0]
    frames = frames + shift + start_frame
    span = (ref_frames >= start_frame + 2) & (ref_frames <= start_frame + len(clip) / HOP - 3)
    found = dict.fromkeys(TIME_WINDOWS, 0)
    for frame, bin_ in zip(ref_frames[span], ref_bins[span], strict=True):
        near = np.abs(bins - bin_) <= 1.0
        if near.any():
            gap = float(np.min(np.abs(frames[near] - frame)))
            for w in TIME_WINDOWS:
                found[w] += gap <= w
    return {"reference_peaks": int(span.sum()), **{str(w): found[w] for w in TIME_WINDOWS}}


def pairs_held(
    clip: np.ndarray,
    reference: fp.Fingerprints,
    start_frame: float,
    *,
    jitter: bool,
    params: fp.FingerprintParams = fp.QUERY,
) -> tuple[int, int]:
    """(the reference's pairs in the clip's span the clip's pairs, hashed with `params`, hold at
    the true offset, of how many)."""
    pairs = fp.fingerprint(clip, params).split()[0]
    hashes, offsets = jittered(pairs.hashes, pairs.offsets, triplets=False) if jitter else (pairs.hashes, pairs.offsets)
    offsets = offsets + start_frame
    span = (reference.offsets >= start_frame - 1) & (reference.offsets <= start_frame + pairs.n_frames)
    held = 0
    order = np.argsort(hashes, kind="stable")
    hashes, offsets = hashes[order], offsets[order]
    for value, offset in zip(reference.hashes[span], reference.offsets[span], strict=True):
        lo, hi = np.searchsorted(hashes, value), np.searchsorted(hashes, value, side="right")
        held += bool(hi > lo and np.any(np.abs(offsets[lo:hi] - offset) <= 1.0))
    return held, int(span.sum())


def peaks_part(queries: list[query_set.Query], clips: dict[str, np.ndarray]) -> dict:
    references: dict[str, tuple[fp.Constellation, fp.Fingerprints]] = {}
    cells: dict[str, dict] = {}
    for q in queries:
        clean, source = excerpt(q)
        if q.source not in references:
            references[q.source] = (fp.constellation(source, fp.REFERENCE), fp.fingerprint(source).split()[0])
        constellation, pairs = references[q.source]
        start_frame = q.start_s * RATE / HOP
        room = clips[q.id].astype(np.float32) / 32767
        for kind, samples in (("clean", clean), ("room", room)):
            cell = cells.setdefault(f"{kind}/{q.length_s:g}", {"clips": 0, "peaks": {}, "pairs": {}})
            cell["clips"] += 1
            for key, value in peak_shares(samples, constellation, start_frame).items():
                cell["peaks"][key] = cell["peaks"].get(key, 0) + value
            for jitter in (False, True):
                held, of = pairs_held(samples, pairs, start_frame, jitter=jitter)
                key = "dt+-1" if jitter else "as is"
                cell["pairs"].setdefault(key, []).append(held)
                cell["pairs"]["reference"] = cell["pairs"].get("reference", 0) + (0 if jitter else of)
    for cell in cells.values():
        for key in ("as is", "dt+-1"):
            cell["pairs"][key] = {
                "median": float(np.median(cell["pairs"][key])),
                "mean": float(np.mean(cell["pairs"][key])),
            }
    return cells


def looks_part(
    index, names: dict[int, str], queries: list[query_set.Query], unknown: list[query_set.Query], clips: dict
) -> dict:
    engine = Identifier(index)
    wide = Identifier(index, match_params=replace(engine.match_params, tolerance_cells=WIDE_TOLERANCE_CELLS))
    # One more look on the main share of the bound (retries.py): every decision counts it.
    looks = math.ceil((2 + len(engine.speed_variants) + 1) / (1 - engine.wide_share))
    arms = {"as it is": engine, "dt +-1": engine, f"dt +-1, window x{WIDE_TOLERANCE_CELLS}": wide}
    cells: dict[str, dict] = {}
    for q in queries:
        samples = clips[q.id].astype(np.float32) / 32767
        match = engine.identify(samples)
        cell = cells.setdefault(f"{q.length_s:g}", {"clips": 0, **dict.fromkeys(arms, 0), "wrong": 0})
        cell["clips"] += 1
        for arm, arm_engine in arms.items():
            found = match if match is not None or arm == "as it is" else jitter_look(arm_engine, samples, looks)
            if found is not None:
                right = versions.same_recording(
                    q.source, q.start_s, names[found.track_id], fp.frames_to_seconds(found.offset_frames), q.length_s
                )
                cell[arm] += right
                cell["wrong"] += not right and arm != "as it is"
    false = {arm: 0 for arm in arms if arm != "as it is"}
    started = time.process_time()
    for q in unknown:
        samples = clips[q.id].astype(np.float32) / 32767
        if engine.identify(samples) is not None:
            continue  # counted by the robustness study
        for arm in false:
            false[arm] += jitter_look(arms[arm], samples, looks) is not None
    return {
        "cells": cells,
        "unknown": len(unknown),
        "unknown_matched_by_the_look": false,
        "cpu_ms_a_never_indexed_clip": round(1000 * (time.process_time() - started) / max(len(unknown), 1), 1),
    }


def room_set(unknown: int) -> tuple[dict, list[query_set.Query], list[query_set.Query], dict[str, np.ndarray]]:
    """The corpus manifest, the robustness set's `room-dr0` clips, its first `unknown`
    never-indexed clips, and every clip of the set decoded (cached in bench/out)."""
    manifest = corpus.load_or_build(OUT / "corpus.json")
    every = query_set.build_robust(manifest, OUT / "queries_robust", 50, 1000)
    room = [q for q in every if q.kind == "known" and q.condition == query_set.ROOM_DR0]
    return manifest, room, [q for q in every if q.kind != "known"][:unknown], robustness.decoded_clips(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    args = parser.parse_args()
    manifest, room, unknown, clips = room_set(args.unknown)
    started = time.perf_counter()
    peaks = peaks_part(room, clips)
    print(json.dumps(peaks, indent=1), f"({time.perf_counter() - started:.0f} s)", flush=True)
    index, names = robustness.build_index(query_set.robust_manifest(manifest))
    looks = looks_part(index, names, room, unknown, clips)
    print(json.dumps(looks, indent=1), flush=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "peaks": peaks, "looks": looks}, indent=1
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
