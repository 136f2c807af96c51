"""Study of a room on the references' side (issue 38): each track also indexed as heard in a room.

    .venv/bin/python -m bench.studies.room_reference            # the peaks part
    .venv/bin/python -m bench.studies.room_reference --part answers --families p20,p8,p4,p12-triplets

bench/studies/room.py found that a room keeps a clip's peaks but moves each a fraction of a frame
to a few frames later, peak by peak, and room_onsets.py that timing peaks at their onset does not
stop it; dt +-1 frame on the query's side brought as many chance votes as true ones. Here the
other side: beside each track's hashes, the index holds a "room family", the hashes of the track
convolved with a generic synthetic room (`room_impulse`: its own model, a direct path, a few early
reflections and a diffuse tail of RT60 0.6 s, as much reverberant as direct sound, its own seed;
not bench/distortions.py's `room`, which made the clips), so that a clip in a room may meet
reference peaks a room delayed in the same way. A family hash equal to one of the track's own at
the same (whole) frame is not stored twice. In two parts:

- peaks: room.py's first table on the clips in a room, against (a) the clean reference as the
  index holds it today and (b) the reference in the family's room (the whole track convolved, its
  peaks and hashes in the clip's span): the reference's peaks the clip's peaks hold within a bin
  and half a frame, one, two and four frames, and the reference's pairs and triplets the clip's
  hold at the true offset, and those of (a) and (b) together (what an index holding the family
  offers). Two more references bound (b): the family's room 6 dB drier, and the clips' own model
  (bench/distortions.py's `room`, RT60 0.4 s, 0 dB) with a tail of another seed, which tells
  whether even the right room reproduces a clip's delays (never a candidate: it is the
  benchmark's own room). The clips: the robustness set's `room-dr0` (RT60 0.4 s, as much
  reverberant as direct sound), and the same places of the same never-seen tracks in two other
  rooms of bench/distortions.py's model, RT60 0.25 s and 0.8 s at 0 dB (`OTHER_ROOMS`, made here,
  cached in bench/out/roomref-rooms.npz). About a minute.
- answers (not run so far: the peaks part found that no reverberated reference holds more of a
  clip's peaks than the clean one, so the study stopped there; docs/decisions.md): the engine as
  it is (Identifier with its defaults) against in-memory indexes of the robustness set's
  manifest, today's and each family's arm (`--families`: `pN` the family picked at N peaks a
  second, the references' other settings kept, `-triplets` or `-pairs` storing that kind alone;
  all built in one pass over the audio, cached in bench/out/roomref-index.pkl): the clips of the
  three rooms, room_onsets.py's `CELLS` (the benchmark's conditions cut from the catalog's tracks,
  cached in bench/out/roomref-cells.npz) and the set's never-indexed clips. Each cell keeps which
  clips it answered right, so arms compare clip by clip; storage counts index rows a second and
  MB per audio hour as room_onsets.py does.

Results go to bench/results/room_reference.json (a run of one part keeps the other's);
docs/decisions.md quotes them through the `room_reference` report block (`make report`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import signal

from bench import OUT, RESULTS, corpus
from bench import distortions as dist
from bench import queries as query_set
from bench.studies import room, room_onsets
from recognition.engine import audio
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from recognition.engine.identify import Identifier
from recognition.engine.memory import MemoryIndex

RESULTS_FILE = RESULTS / "room_reference.json"
INDEX_CACHE = OUT / "roomref-index.pkl"
CELLS_CACHE = OUT / "roomref-cells.npz"
ROOMS_CACHE = OUT / "roomref-rooms.npz"
RATE = fp.REFERENCE.sample_rate_hz
HOP = fp.REFERENCE.hop_size
# The references' room, chosen before any measurement and never tuned on the clips: a hall's
# RT60 longer than the set's, as much reverberant as direct sound, early reflections of its own.
FAMILY_RT60_S = 0.6
FAMILY_DIRECT_TO_REVERBERANT_DB = 0.0
FAMILY_SEED = 6401
# Other rooms the clips are heard in (bench/distortions.py's `room`, RT60 in seconds, 0 dB).
OTHER_ROOMS = {"room-rt0.25": 0.25, "room-rt0.8": 0.8}
OTHER_ROOMS_SEED = 2501
# The family's peak densities built into the cached index (peaks a second: the budget of a block
# of 16 frames and a band rounds to 5, 3, 2 and 1 peaks).
DENSITIES = (20.0, 12.0, 8.0, 4.0)
FAMILIES = "p20,p8,p4,p12-triplets"
TIME_WINDOWS = ("0.5", "1.0", "2.0", "4.0")


def room_impulse(
    sample_rate_hz: int,
    rng: np.random.Generator,
    *,
    rt60_s: float = FAMILY_RT60_S,
    direct_to_reverberant_db: float = FAMILY_DIRECT_TO_REVERBERANT_DB,
    reflections: int = 6,
    mixing_s: float = 0.05,
    early_share: float = 0.25,
) -> np.ndarray:
    """A room's impulse response: the direct path (1 at t = 0); `reflections` early reflections at
    random delays from 3 ms to `mixing_s`, random signs and amplitudes under the decay; and a
    diffuse tail of Gaussian noise that builds up over the first `mixing_s` and decays 60 dB in
    `rt60_s`. The reflections hold `early_share` of the reverberant energy, the tail the rest,
    and together they are `direct_to_reverberant_db` below the direct path. Not
    bench/distortions.py's `room` (a tail alone, at full level from 5 ms): the references' room
    must not be the one the clips were made in."""
    n = int(1.2 * rt60_s * sample_rate_hz)  # the tail ends 72 dB down
    t = np.arange(n) / sample_rate_hz
    decay = np.exp(-6.91 * t / rt60_s)
    tail = rng.standard_normal(n) * decay * np.clip(t / mixing_s, 0.0, 1.0) ** 2
    tail[0] = 0.0
    early = np.zeros(n)
    at = np.rint(rng.uniform(0.003, mixing_s, reflections) * sample_rate_hz).astype(np.int64)
    np.add.at(early, at, rng.choice((-1.0, 1.0), reflections) * rng.uniform(0.5, 1.0, reflections) * decay[at])
    impulse = early * np.sqrt(early_share / np.sum(early**2)) + tail * np.sqrt((1 - early_share) / np.sum(tail**2))
    impulse *= np.sqrt(10 ** (-direct_to_reverberant_db / 10) / np.sum(impulse**2))  # the direct path's energy is 1
    impulse[0] = 1.0
    return impulse


def family_impulse() -> np.ndarray:
    """The references' room at the engine's rate (the same for every track)."""
    return room_impulse(RATE, np.random.default_rng(FAMILY_SEED))


def clips_model_impulse(seed: int = FAMILY_SEED) -> np.ndarray:
    """bench/distortions.py's `room` as the `room-dr0` clips were made (RT60 0.4 s, 0 dB) but
    with a tail of another seed, at the engine's rate: for the diagnostic only (an upper bound on
    what a room family could hold, never a candidate: it is the benchmark's own room)."""
    unit = np.zeros(int(0.4 * 1.5 * RATE) + 1, np.float32)
    unit[0] = 1.0
    heard = dist.room(unit, RATE, np.random.default_rng(seed), rt60_s=0.4, direct_to_reverberant_db=0.0)
    return heard.astype(np.float64) / heard[0]


# The references' rooms the peaks part compares (the first is the family the answers index).
def reference_rooms() -> dict[str, np.ndarray]:
    return {
        "family": family_impulse(),
        "family, 6 dB": room_impulse(RATE, np.random.default_rng(FAMILY_SEED), direct_to_reverberant_db=6.0),
        "clips' model": clips_model_impulse(),
    }


def in_room(x: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """`x` heard in the room of `impulse`, the same length."""
    return signal.oaconvolve(np.asarray(x, np.float64), impulse)[: x.size].astype(np.float32)


def keys(prints: fp.Fingerprints) -> np.ndarray:
    """One integer a (hash, whole anchor frame), as the store keys a row."""
    return (prints.hashes.astype(np.int64) << 24) + np.rint(prints.offsets).astype(np.int64)


def new_rows(family: fp.Fingerprints, own: fp.Fingerprints) -> fp.Fingerprints:
    """The family's rows the track's own hashes do not hold (same value at the same whole frame),
    each once."""
    values, first = np.unique(keys(family), return_index=True)
    first = first[~np.isin(values, keys(own))]
    return family.select(np.sort(first))


def family_params(density: float) -> fp.FingerprintParams:
    return replace(fp.REFERENCE, peaks_per_second=density)


def parse_family(name: str) -> tuple[float, str]:
    """`p8-triplets` -> (8.0, "triplets"); `p20` -> (20.0, "both")."""
    density, _, kind = name[1:].partition("-")
    return float(density), kind or "both"


# --- clips in other rooms -------------------------------------------------------------------


def other_room_clips(queries: list[query_set.Query]) -> dict[str, dict[str, np.ndarray]]:
    """{room: {clip id: int16 at the engine's rate}}: each `room-dr0` clip's place of its track in
    the rooms of `OTHER_ROOMS`, made as bench/queries.py makes the set's (cut at 44.1 kHz with the
    second before it ringing in, a WAV decoded at the engine's rate; cached in bench/out)."""
    wanted = {f"{name}/{q.id}" for name in OTHER_ROOMS for q in queries}
    if ROOMS_CACHE.exists():
        with np.load(ROOMS_CACHE) as saved:
            if set(saved.files) >= wanted:
                return {name: {q.id: saved[f"{name}/{q.id}"] for q in queries} for name in OTHER_ROOMS}
    made: dict[str, np.ndarray] = {}
    rate = query_set.QUERY_RATE
    with tempfile.TemporaryDirectory() as folder:
        for name, rt60_s in OTHER_ROOMS.items():
            for k, q in enumerate(queries):
                rng = np.random.default_rng([OTHER_ROOMS_SEED, round(1000 * rt60_s), k])
                pre = min(1.0, q.start_s)
                x = query_set.decode_excerpt(q.source, q.start_s - pre, q.length_s + pre)
                wet = dist.room(x, rate, rng, rt60_s=rt60_s, direct_to_reverberant_db=0.0)[int(pre * rate) :]
                n = int(q.length_s * rate)
                wet = wet[:n] if wet.size >= n else np.pad(wet, (0, n - wet.size))
                path = Path(folder) / f"{name}-{q.id}.wav"
                query_set.write_wav(path, wet)
                made[f"{name}/{q.id}"] = (audio.decode(path, sample_rate_hz=RATE, max_seconds=30) * 32767).astype(
                    np.int16
                )
    np.savez(ROOMS_CACHE, **made)
    return {name: {q.id: made[f"{name}/{q.id}"] for q in queries} for name in OTHER_ROOMS}


# --- peaks --------------------------------------------------------------------------------------


def hashes_held(clip: fp.Fingerprints, reference: fp.Fingerprints, start_frame: float) -> tuple[int, int]:
    """(the reference's hashes in the clip's span that the clip's hashes hold at the true offset,
    within a frame, of how many): room.py's `pairs_held` for any kind."""
    offsets = clip.offsets + start_frame
    span = (reference.offsets >= start_frame - 1) & (reference.offsets <= start_frame + clip.n_frames)
    order = np.argsort(clip.hashes, kind="stable")
    hashes, offsets = clip.hashes[order], offsets[order]
    held = 0
    for value, offset in zip(reference.hashes[span], reference.offsets[span], strict=True):
        lo, hi = np.searchsorted(hashes, value), np.searchsorted(hashes, value, side="right")
        held += bool(hi > lo and np.any(np.abs(offsets[lo:hi] - offset) <= 1.0))
    return held, int(span.sum())


def peaks_part(queries: list[query_set.Query], rooms: dict[str, dict[str, np.ndarray]]) -> dict:
    """For each room and length: the reference's peaks, pairs and triplets the clips hold, against
    the clean reference ("clean"), the reference in each of `reference_rooms` and the clean
    reference's hashes with the family's new ones ("both", what an index holding the family
    offers)."""
    impulses = reference_rooms()
    references: dict[str, dict[str, tuple[fp.Constellation | None, fp.Fingerprints]]] = {}
    cells: dict[str, dict] = {}
    for q in queries:
        if q.source not in references:
            x = corpus.decoded(q.source)
            made = {"clean": x, **{name: in_room(x, impulse) for name, impulse in impulses.items()}}
            references[q.source] = {}
            for kind, y in made.items():
                peaks = fp.constellation(y, fp.REFERENCE)
                references[q.source][kind] = (peaks, fp.hash_constellation(peaks, fp.REFERENCE))
            own, family = references[q.source]["clean"][1], references[q.source]["family"][1]
            added = new_rows(family, own)
            both = fp.Fingerprints(
                np.concatenate([own.hashes, added.hashes]), np.concatenate([own.offsets, added.offsets]), own.n_frames
            )
            references[q.source]["both"] = (None, both)
        start_frame = q.start_s * RATE / HOP
        for room_name, clips in rooms.items():
            samples = clips[q.id].astype(np.float32) / 32767
            prints = fp.fingerprint(samples, fp.QUERY)
            clip_pairs, clip_triplets = prints.split()
            cell = cells.setdefault(f"{room_name}/{q.length_s:g}", {"clips": 0})
            cell["clips"] += 1
            for kind, (constellation, reference) in references[q.source].items():
                entry = cell.setdefault(kind, {"peaks": {}, "pairs_held": 0, "pairs": 0, "triplets_held": 0,
                                               "triplets": 0, "clips_with_pairs_held": []})  # fmt: skip
                if constellation is not None:
                    for key, value in room.peak_shares(samples, constellation, start_frame).items():
                        entry["peaks"][key] = entry["peaks"].get(key, 0) + value
                ref_pairs, ref_triplets = reference.split()
                held, of = hashes_held(clip_pairs, ref_pairs, start_frame)
                entry["pairs_held"] += held
                entry["pairs"] += of
                entry["clips_with_pairs_held"].append(held)
                held, of = hashes_held(clip_triplets, ref_triplets, start_frame)
                entry["triplets_held"] += held
                entry["triplets"] += of
    for cell in cells.values():
        for kind, entry in cell.items():
            if kind != "clips":
                entry["pairs_held_median"] = float(np.median(entry.pop("clips_with_pairs_held")))
    return cells


# --- the index and the answers ----------------------------------------------------------------


def build_references(manifest: dict) -> dict:
    """Every indexed track's own hashes, sketch, and its family's new rows at each of
    `DENSITIES`, with the audio's seconds (decoded once; cached in bench/out)."""
    if INDEX_CACHE.exists():
        cached = pickle.loads(INDEX_CACHE.read_bytes())  # noqa: S301 (our own cache, in bench/out)
        if cached["tracks"] == len(manifest["indexed"]) and set(cached["densities"]) >= set(DENSITIES):
            return cached
    impulse = family_impulse()
    own, sketches, families, names, seconds = {}, {}, {d: {} for d in DENSITIES}, {}, 0.0
    for track_id, item in enumerate(manifest["indexed"]):
        x = corpus.decoded(item["path"])
        own[track_id] = fp.fingerprint(x, fp.REFERENCE)
        sketches[track_id] = sk.sketch(x)
        wet = in_room(x, impulse)
        for density in DENSITIES:
            families[density][track_id] = new_rows(fp.fingerprint(wet, family_params(density)), own[track_id])
        names[track_id] = item["path"]
        seconds += x.size / RATE
    built = {
        "own": own,
        "sketches": sketches,
        "families": families,
        "densities": list(DENSITIES),
        "names": names,
        "seconds": seconds,
        "tracks": len(names),
    }
    INDEX_CACHE.write_bytes(pickle.dumps(built))
    return built


def index_of(built: dict, family: str | None) -> tuple[MemoryIndex, dict[str, int]]:
    """The in-memory index of every track's own hashes and, given `family`, that family's new rows
    under the same track id; with the rows of each kind it stores."""
    index = MemoryIndex()
    rows = {"pairs": 0, "triplets": 0, "family_pairs": 0, "family_triplets": 0}
    density, kind = parse_family(family) if family else (None, "")
    for track_id, own in built["own"].items():
        pairs, triplets = own.split()
        rows["pairs"] += len(pairs)
        rows["triplets"] += len(triplets)
        prints = own
        if family:
            extra = built["families"][density][track_id]
            extra_pairs, extra_triplets = extra.split()
            extra = {"pairs": extra_pairs, "triplets": extra_triplets}.get(kind, extra)
            added_pairs, added_triplets = extra.split()
            rows["family_pairs"] += len(added_pairs)
            rows["family_triplets"] += len(added_triplets)
            prints = fp.Fingerprints(
                np.concatenate([own.hashes, extra.hashes]), np.concatenate([own.offsets, extra.offsets]), own.n_frames
            )
        index.add(track_id, prints, built["sketches"][track_id])
    return index, rows


def storage(rows: dict[str, int], seconds: float) -> dict:
    """room_onsets.py's storage of every row stored, the family's alone beside it."""
    total = {"pairs": rows["pairs"] + rows["family_pairs"], "triplets": rows["triplets"] + rows["family_triplets"]}
    family = room_onsets.storage({"pairs": rows["family_pairs"], "triplets": rows["family_triplets"]}, seconds)
    return {
        **room_onsets.storage(total, seconds),
        "family_pairs_per_s": family["pairs_per_s"],
        "family_triplets_per_s": family["triplets_per_s"],
        "family_mb_per_audio_hour": family["mb_per_audio_hour"],
    }


def room_cells(
    queries: list[query_set.Query], rooms: dict[str, dict[str, np.ndarray]], ids: dict[str, int]
) -> dict[str, list]:
    """The other rooms' clips as room_onsets.py's cells: {room:length: [(track id, start s, samples)]}."""
    cells: dict[str, list] = {}
    for name, clips in rooms.items():
        for q in queries:
            samples = clips[q.id].astype(np.float32) / 32767
            cells.setdefault(f"{name}:{q.length_s:g}", []).append((ids[q.source], q.start_s, samples))
    return cells


def answers_part(
    built: dict,
    families: list[str],
    room_queries: list[query_set.Query],
    clips: dict[str, np.ndarray],
    cells: dict[str, list],
    unknown: list[query_set.Query],
) -> dict:
    """room_onsets.py's answers for today's index and each family's, one after another in this
    process, with each index's storage."""
    arms = {}
    for family in [None, *families]:
        started = time.perf_counter()
        index, rows = index_of(built, family)
        name = family or "today"
        arms[name] = {
            "storage": storage(rows, built["seconds"]),
            **room_onsets.answers_part(Identifier(index), built["names"], room_queries, clips, cells, unknown),
        }
        summary = {cell: marks.count("1") for cell, marks in arms[name]["answered"].items()}
        print(name, json.dumps({**arms[name], "answered": summary}), f"({time.perf_counter() - started:.0f} s)")
    return arms


def save(part: str, value) -> None:
    """Write one part into the results file, keeping the other's."""
    results = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.exists() else {}
    results[part] = value
    results[part]["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["family_room"] = {
        "rt60_s": FAMILY_RT60_S,
        "direct_to_reverberant_db": FAMILY_DIRECT_TO_REVERBERANT_DB,
        "seed": FAMILY_SEED,
        "other_rooms_rt60_s": OTHER_ROOMS,
    }
    RESULTS_FILE.write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("peaks", "answers", "all"), default="peaks")
    parser.add_argument("--families", default=FAMILIES, help="pN[-triplets|-pairs], comma-separated")
    parser.add_argument("--cells", default=room_onsets.CELLS, help="condition:seconds, comma-separated")
    parser.add_argument("--clips", type=int, default=50, help="clips a cell of the benchmark's conditions")
    parser.add_argument("--unknown", type=int, default=1000, help="never-indexed clips (at most 1000)")
    args = parser.parse_args()
    manifest, room_queries, unknown, clips = room.room_set(args.unknown)
    started = time.perf_counter()
    rooms = {query_set.ROOM_DR0: {q.id: clips[q.id] for q in room_queries}, **other_room_clips(room_queries)}
    print(f"clips in rooms: {time.perf_counter() - started:.0f} s", flush=True)
    if args.part in ("peaks", "all"):
        started = time.perf_counter()
        peaks = peaks_part(room_queries, rooms)
        print(json.dumps(peaks, indent=1), f"({time.perf_counter() - started:.0f} s)", flush=True)
        save("peaks", {"cells": peaks})
    if args.part in ("answers", "all"):
        started = time.perf_counter()
        robust = query_set.robust_manifest(manifest)
        built = build_references(robust)
        print(f"references: {built['tracks']} tracks ({time.perf_counter() - started:.0f} s)", flush=True)
        if room_onsets.CLIPS_CACHE.exists() and not CELLS_CACHE.exists():  # the same clips, when made already
            shutil.copyfile(room_onsets.CLIPS_CACHE, CELLS_CACHE)
        cells = room_onsets.other_cells(manifest, args.cells, args.clips, cache=CELLS_CACHE)
        ids = {path: track_id for track_id, path in built["names"].items()}
        others = {name: clips for name, clips in rooms.items() if name != query_set.ROOM_DR0}
        cells = {**room_cells(room_queries, others, ids), **cells}
        families = [name for name in args.families.split(",") if name]
        arms = answers_part(built, families, room_queries, clips, cells, unknown)
        save(
            "answers",
            {
                "clips_a_cell": args.clips,
                "indexed_hours": built["seconds"] / 3600,
                "arms": arms,
            },
        )


if __name__ == "__main__":
    main()
