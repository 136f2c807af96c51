"""Where the engine loses clips under a voice or another song (issue 38): a diagnosis, look by look.

    .venv/bin/python -m bench.studies.voice_lost --cells music0:5,voice+10:5 --arms wide-all-screen,dense-fan8

For each clip of the robustness set's cells given (bench/studies/robustness.py: clips of the
never-seen package, the in-memory index of the catalog and that package), each arm (an engine of
robustness.py's `ARMS`; `wide-all-screen`, the engine as it was before fp.QUERY_DENSE_CLIP) answers
the clip, and each look it takes before the speed
retries is replayed with the engine's own stages: the first look (its triplets in every track,
stage 1's candidates, the decision on their pairs and triplets), the retry smoothed in time (in
the first look's candidates) and the denser look (`dense_params`, its own stage 1). For each look
it records whether the clip's own track was among stage 1's candidates, the track's rank in stage
1's ranking, and the bound the track's own votes reach at their best alignment, pairs (as if it
were a candidate) and triplets, as decades beyond the threshold the look's decision needs (its
share of the bound, every look of the clip counted): >= 0 clears it. A clip the engine does not
answer right is put in one class: a wrong track named; the track among a look's candidates but
its votes short of the bound; in no look's candidates though its pairs would clear the bound of a
look that had it as a candidate; in no look's candidates and short of the bound even then.

Prints one line a clip and the table of classes, arm by arm; writes them to
bench/results/studies/voice_lost.txt (docs/decisions.md quotes it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench import OUT, RESULTS, corpus, versions
from bench import queries as query_set
from bench.studies import robustness, voice
from recognition.engine import fingerprint as fp
from recognition.engine import matching
from recognition.engine.identify import PAIR_SHARE, TRIPLET_SHARE, Identifier, LookupMemo

RESULTS_FILE = RESULTS / "studies" / "voice_lost.txt"
TOLERANCE_FRAMES = 3.0  # a best alignment this close to the clip's place is the true one


def _rank_of(ranking: matching.Ranking | None, track: int) -> int | None:
    """The track's place (1 = first) in stage 1's order (smallest bound, then most votes)."""
    if ranking is None or ranking.track_ids.size == 0:
        return None
    order = ranking.track_ids[np.lexsort((-ranking.score, ranking.log10_p))]
    where = np.flatnonzero(order == track)
    return int(where[0]) + 1 if where.size else None


def _margin(
    engine: Identifier, hits: matching.Hits, n_frames: int, track: int, truth: float, looks: int, share: float
) -> tuple[float | None, int]:
    """Decades by which the track's own votes clear the look's threshold at their best alignment
    (negative: short of it; None: no votes, or best alignment away from the clip's place), and
    its score there."""
    mine = hits.select(hits.track_ids == track)
    if len(mine) == 0:
        return None, 0
    ranking = engine.rank(mine, n_frames)
    if abs(float(ranking.best_diff[0]) - truth) > TOLERANCE_FRAMES:
        return None, int(ranking.score[0])
    tracks = engine.index.track_count()
    bound = float(ranking.log10_p[0]) + np.log10(tracks * looks / share)
    return float(np.log10(engine.match_params.max_false_match_rate) - bound), int(ranking.score[0])


def diagnose(engine: Identifier, x: np.ndarray, track: int, truth: float) -> dict:
    """The looks before the speed retries, replayed as `Identifier.identify_clip` takes them."""
    looks, _ = engine.retry_tiers(smoothed=engine.smoothed_params is not None, dense=engine.dense_params is not None)
    lookup = LookupMemo(engine.index.lookup)
    spectra = fp.Spectra(x, fft_size=engine.params.fft_size, hop_size=engine.params.hop_size)
    clip = fp.hash_constellation(fp.constellation(x, engine.params, spectra=spectra), engine.params)
    first = engine.votes_of([clip], lookup=lookup)[0]
    found: dict[str, dict] = {}

    def look(name: str, votes: matching.Votes, n_frames: int, pairs_of: fp.Fingerprints, ranked: bool) -> None:
        decided = engine.decide(votes, n_frames, looks)
        own_pairs = engine.lookup_hits([pairs_of.split()[0]], np.array([track]), lookup=lookup)[0]
        pair_margin, pair_score = _margin(engine, own_pairs, n_frames, track, truth, looks, PAIR_SHARE)
        triplet_margin, triplet_score = _margin(engine, votes.triplets, n_frames, track, truth, looks, TRIPLET_SHARE)
        candidates = first.candidates if votes.candidates is None else votes.candidates
        found[name] = {
            "candidate": bool(np.isin(track, candidates)),
            "rank": _rank_of(votes.triplet_ranking, track) if ranked else None,
            "pairs": pair_margin,
            "pair_score": pair_score,
            "triplets": triplet_margin,
            "triplet_score": triplet_score,
            "decided": None if decided is None else int(decided.track_id),
            "decided_offset": None if decided is None else float(decided.offset_frames),
        }

    look("first", first, clip.n_frames, clip, True)
    smoothed_params = engine.smoothed_retry_params
    if smoothed_params is not None:
        smoothed = fp.fingerprint(x, smoothed_params, spectra=spectra)
        hits = engine.lookup_hits([smoothed], first.candidates, lookup=lookup)[0]
        triplet = fp.is_triplet(hits.hashes)
        votes = matching.Votes(hits.select(~triplet), hits.select(triplet))
        look("smoothed", votes, smoothed.n_frames, smoothed, False)
    if engine.dense_params is not None:
        dense = fp.fingerprint(x, engine.dense_params, spectra=spectra)
        look("dense", engine.votes_of([dense], lookup=lookup)[0], dense.n_frames, dense, True)
    return {"looks": looks, "by_look": found}


def lost_class(by_look: dict[str, dict], answered: str) -> str:
    """The class of a clip the engine does not answer right (see the module docstring)."""
    if answered == "wrong":
        return "a wrong track named"
    if any(v["candidate"] for v in by_look.values()):
        return "a candidate, its votes short of the bound"
    if any(v["pairs"] is not None and v["pairs"] >= 0 for v in by_look.values()):
        return "in no look's candidates; its pairs would clear the bound"
    return "in no look's candidates; short of the bound even as a candidate"


def _fmt(value: float | None) -> str:
    return "  —  " if value is None else f"{value:+5.1f}"


def run(engine: Identifier, every: list, clips: dict, names: dict[int, str], cells: list, per_cell: int) -> list[str]:
    """Every clip of `cells` through `engine` and its looks replayed: a line a clip, then the
    table of where the clips it does not answer right are lost."""
    ids = {path: track for track, path in names.items()}
    lines = []
    summary: dict[tuple[str, float], dict[str, int]] = {}
    for condition, length in cells:
        queries = [q for q in every if q.kind == "known" and q.condition == condition and q.length_s == length]
        for q in queries[:per_cell]:
            x = clips[q.id].astype(np.float32) / 32767
            match = engine.identify(x)
            track = ids[q.source]
            truth = q.start_s * fp.QUERY.sample_rate_hz / fp.QUERY.hop_size
            if match is None:
                answered = "none"
            else:
                offset_s = float(fp.frames_to_seconds(match.offset_frames))
                same = versions.same_recording(q.source, q.start_s, names[match.track_id], offset_s, q.length_s)
                answered = "right" if same else "wrong"
            by_look = diagnose(engine, x, track, truth)["by_look"]
            kind = "right" if answered == "right" else lost_class(by_look, answered)
            counts = summary.setdefault((condition, length), {})
            counts[kind] = counts.get(kind, 0) + 1
            parts = [
                f"{name}: {'C' if v['candidate'] else '-'} r{v['rank'] or '-':>3} "
                f"p{_fmt(v['pairs'])} t{_fmt(v['triplets'])}"
                for name, v in by_look.items()
            ]
            lines.append(f"{q.id} {condition} {length:g}s {answered:5} | " + " | ".join(parts))
            print(lines[-1], flush=True)
    table = ["| cell | clips | right | " + " | ".join(CLASSES) + " |", "|---|" + "---:|" * (len(CLASSES) + 2)]
    for (condition, length), counts in summary.items():
        total = sum(counts.values())
        table.append(f"| {condition} {length:g} s | {total} | {counts.get('right', 0)} | "
                     + " | ".join(str(counts.get(c, 0)) for c in CLASSES) + " |")  # fmt: skip
    return [*lines, "", *table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="music0:5,voice+10:5", help="condition:length, comma-separated")
    parser.add_argument("--per-cell", type=int, default=50)
    parser.add_argument("--arms", default="wide-all-screen", help="arms of robustness.ARMS, comma-separated")
    parser.add_argument("--dry", action="store_true", help="print, do not save")
    args = parser.parse_args()
    cells = [(c.split(":")[0], float(c.split(":")[1])) for c in args.cells.split(",")]
    manifest = corpus.load_or_build(OUT / "corpus.json")
    index, names = voice.load_index(query_set.robust_manifest(manifest))
    every = query_set.build_robust(manifest, OUT / "queries_robust", 50, 1000)
    clips = robustness.decoded_clips(every)
    lines = [
        f"# python -m bench.studies.voice_lost --cells {args.cells} --arms {args.arms}"
        f"  ({time.strftime('%Y-%m-%d %H:%M')} UTC)",
        "# a line a clip: the engine's answer (right / wrong / none), then per look: C = the clip's track",
        "# among stage 1's candidates, r = its rank in stage 1, p and t = decades by which its pairs (as",
        "# if a candidate) and its triplets clear the look's threshold at the clip's place (negative:",
        "# short of it; — = no votes there)",
    ]
    for arm in args.arms.split(","):
        found = run(Identifier(index, **robustness.ARMS[arm]), every, clips, names, cells, args.per_cell)
        lines += ["", f"## arm {arm}: {robustness.ARMS[arm]}", "", *found]
        print("\n".join(found[-len(cells) - 2 :]), flush=True)
    if not args.dry:
        RESULTS_FILE.write_text("\n".join(lines) + "\n")


CLASSES = (
    "a wrong track named",
    "a candidate, its votes short of the bound",
    "in no look's candidates; its pairs would clear the bound",
    "in no look's candidates; short of the bound even as a candidate",
)

if __name__ == "__main__":
    main()
