"""Is a detection that names another file a chance match, or audio the two files share?

Game soundtracks reuse their own material: warzone2100-music's legacy tracks are built from
loops, and one track's drum or bass loop plays, sample for sample, under another track's new
melody. A monitor that names the loop's own track there has heard that track's audio, not
chance; the spectrogram similarity of bench/versions.py misses it, because the rest of the mix
differs. So a detection that names a file other than the one on air is looked at again, offline
and without the monitor: windows of what was on air are identified against the named track
alone (`Identifier`, its own decision), and the audio is shared when two windows in a row
match it at alignments that advance with the clock, as only the same audio can. Chance matches
land at random alignments; two in a row at the right spacing would need both windows to pass
the false-match bound at the same place.

Shared material is reported apart from false detections, with each case listed
(`shared_material` in monitor.json), so a reader can judge it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bench import corpus

__all__ = ["WINDOW_S", "screen", "shared_material"]

WINDOW_S = 5.0  # a query's usual length
STEP_S = 2.5  # windows overlap by half: a shared loop of ~8 s still gives two in a row
TOLERANCE_S = 0.3  # two alignments of the same audio agree to the engine's frame (32 ms), a margin for speed
SEARCH_AROUND_S = 10.0  # the worker's clock may put the detection a few seconds off the airtime


@lru_cache(maxsize=8)
def _identifier(path: str):
    from recognition.engine import Identifier, MemoryIndex
    from recognition.engine import fingerprint as fp
    from recognition.engine import sketch as sk

    samples = corpus.decoded(path)
    index = MemoryIndex()
    index.add(1, fp.fingerprint(samples), sk.sketch(samples))
    return Identifier(index)


def shared_material(playing: str, offset_s: float, duration_s: float, detected: str) -> dict | None:
    """Where `playing`'s audio around `offset_s` holds `detected`'s own audio, or None.

    Windows from SEARCH_AROUND_S before `offset_s` to as far after the detection's length are
    identified against `detected` alone; returns the first pair of consecutive windows whose
    alignments in `detected` advance with them, as {"playing_s", "detected_s", "log10_p"}.
    """
    from recognition.engine.fingerprint.params import frames_to_seconds

    audio = corpus.decoded(playing)
    identifier = _identifier(detected)
    rate = corpus.ENGINE_RATE
    first = max(0.0, offset_s - SEARCH_AROUND_S)
    last = min(audio.size / rate - WINDOW_S, offset_s + max(duration_s, WINDOW_S) + SEARCH_AROUND_S)
    previous: tuple[float, float, float] | None = None  # (window start, alignment, log10 p)
    for start_s in np.arange(first, last + 1e-9, STEP_S):
        clip = audio[int(start_s * rate) : int((start_s + WINDOW_S) * rate)]
        match = identifier.identify(clip)
        if match is None:
            previous = None
            continue
        aligned_s = float(frames_to_seconds(match.offset_frames))  # where the window's start sits in `detected`
        if previous is not None and abs((aligned_s - previous[1]) - (start_s - previous[0])) <= TOLERANCE_S:
            return {
                "playing_s": round(float(previous[0]), 1),
                "detected_s": round(previous[1], 1),
                "log10_p": round(max(previous[2], match.log10_p), 1),
            }
        previous = (float(start_s), aligned_s, match.log10_p)
    return None


def screen(never: list[dict], indexed: list[dict]) -> dict[str, dict]:
    """The never-indexed files that hold catalog audio, with where: {path: {"track", "playing_s",
    "detected_s", "log10_p"}}, cached in bench/out/monitor/shared_screen.json.

    A file that holds an indexed track's own audio is not music the catalog has never seen, so the
    benchmark does not play it as such. Every file is cut in windows as in `shared_material`,
    identified against the whole catalog; two windows in a row naming one track at alignments
    that advance with them mark it. The same test for every file, before any station plays.
    """
    import hashlib
    import json

    from bench import OUT
    from recognition.engine import Identifier, MemoryIndex
    from recognition.engine import fingerprint as fp
    from recognition.engine import sketch as sk
    from recognition.engine.fingerprint.params import frames_to_seconds

    key = hashlib.sha256(
        json.dumps([sorted(f["sha256"] for f in never), sorted(f["sha256"] for f in indexed)]).encode()
    ).hexdigest()
    cache = OUT / "monitor" / "shared_screen.json"
    if cache.exists() and (cached := json.loads(cache.read_text())).get("key") == key:
        return cached["held"]
    index = MemoryIndex()
    paths = {}
    for track_id, item in enumerate(indexed, start=1):
        samples = corpus.decoded(item["path"])
        index.add(track_id, fp.fingerprint(samples), sk.sketch(samples))
        paths[track_id] = item["path"]
    identifier = Identifier(index)
    rate = corpus.ENGINE_RATE
    held: dict[str, dict] = {}
    for item in never:
        audio = corpus.decoded(item["path"])
        previous: tuple[float, int, float, float] | None = None  # (start, track, alignment, log10 p)
        for start_s in np.arange(0.0, audio.size / rate - WINDOW_S, STEP_S):
            match = identifier.identify(audio[int(start_s * rate) : int((start_s + WINDOW_S) * rate)])
            if match is None:
                previous = None
                continue
            aligned_s = float(frames_to_seconds(match.offset_frames))
            if (
                previous is not None
                and previous[1] == match.track_id
                and abs((aligned_s - previous[2]) - (start_s - previous[0])) <= TOLERANCE_S
            ):
                held[item["path"]] = {
                    "track": paths[match.track_id],
                    "playing_s": round(float(previous[0]), 1),
                    "detected_s": round(previous[2], 1),
                    "log10_p": round(max(previous[3], match.log10_p), 1),
                }
                break
            previous = (float(start_s), match.track_id, aligned_s, match.log10_p)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "held": held}, indent=1))
    return held
