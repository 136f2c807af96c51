"""Ground truth for answers that name another file: is it the same recording at that offset?

The catalog holds versions of one recording as separate files: warzone2100-music ships
`menu.opus` and the remastered `menu_enhanced.opus` (the same music at the same times, longer),
and `track3.opus` beside `track3_enhanced.opus`. A clip cut from one is heard, correctly, in the
other; scored by file name alone, that counts as a wrong answer. So an answer naming another
file counts as right when that file's audio at the answered offset is the clip's source audio,
judged without any fingerprint: the correlation of the two log spectrograms (each frequency's
mean over time removed, so a remaster's new equalisation does not count), at the best lag within
+-4 frames (the answered offset's own error), must reach SAME_RECORDING. Applied alike to both
engines, to catalog clips (a right answer) and to never-indexed ones (then not a false match).

Calibrated on this corpus: remastered passages at the same offset score 0.54-0.77; 900 random
pairs of excerpts of different catalog files scored at most 0.31 (99th percentile 0.25;
`.venv/bin/python -m bench.versions` draws them again). A repeated theme at another place in a
longer version (0.08-0.38) stays a wrong answer.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bench import OUT, corpus

SAME_RECORDING = 0.45
_FFT, _HOP = 512, 256
_BAND = slice(4, 231)  # 60-3600 Hz at 8 kHz, the engine's band
_MAX_LAG_FRAMES = 4


@lru_cache(maxsize=16)
def _audio(path: str) -> np.ndarray:
    return corpus.decoded(path)


def _log_spectrogram(x: np.ndarray) -> np.ndarray:
    if x.size < _FFT:
        return np.empty((0, _BAND.stop - _BAND.start))
    frames = np.lib.stride_tricks.sliding_window_view(x, _FFT)[::_HOP] * np.hanning(_FFT)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))[:, _BAND]
    spectrum = np.log10(magnitude**2 + 1e-9)
    return spectrum - spectrum.mean(axis=0)


def similarity(source: str, start_s: float, other: str, other_start_s: float, length_s: float) -> float:
    """Correlation of `source` at `start_s` with `other` at `other_start_s`, best lag, -1..1."""
    rate = corpus.ENGINE_RATE
    n = int(length_s * rate)
    first = int(start_s * rate)
    reference = _log_spectrogram(_audio(source)[max(first, 0) : first + n])
    if reference.shape[0] < 8 or first < 0:
        return -1.0
    candidate_audio = _audio(other)
    best = -1.0
    for lag in range(-_MAX_LAG_FRAMES, _MAX_LAG_FRAMES + 1):
        begin = int(other_start_s * rate) + lag * _HOP
        if begin < 0:
            continue
        candidate = _log_spectrogram(candidate_audio[begin : begin + n])
        if candidate.shape != reference.shape:
            continue
        norm = np.sqrt((reference**2).sum() * (candidate**2).sum())
        best = max(best, float((reference * candidate).sum() / norm) if norm > 0 else -1.0)
    return best


def same_recording(source: str, start_s: float, answer: str, answer_offset_s: float | None, length_s: float) -> bool:
    """Whether an answer naming `answer` at `answer_offset_s` holds the clip's own audio."""
    if answer == source:
        return True
    if answer_offset_s is None:
        return False
    return similarity(source, start_s, answer, answer_offset_s, length_s) >= SAME_RECORDING


def _null_distribution(pairs: int = 300, seed: int = 1) -> None:
    """Similarity of random excerpts (1, 3 and 5 s) of two different catalog files: the chance level."""
    manifest = corpus.load_or_build(OUT / "corpus.json")
    files = [item for item in manifest["indexed"] if item["duration_s"] > 7]
    rng = np.random.default_rng(seed)
    scores: dict[int, list[float]] = {1: [], 3: [], 5: []}
    for _ in range(pairs):
        a, b = (files[i] for i in rng.choice(len(files), 2, replace=False))
        for length, values in scores.items():
            start_a = rng.uniform(0, a["duration_s"] - length - 1)
            start_b = rng.uniform(0, b["duration_s"] - length - 1)
            values.append(similarity(a["path"], start_a, b["path"], start_b, length))
    for length, values in scores.items():
        p50, p99, top = np.percentile(values, [50, 99, 100])
        print(f"{length} s: median {p50:.2f}, 99th percentile {p99:.2f}, max {top:.2f} ({len(values)} pairs)")


if __name__ == "__main__":
    _null_distribution()
