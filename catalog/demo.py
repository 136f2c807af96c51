"""A small demo catalog a new user can try at once: free game music from Debian, or songs made here.

The synthetic songs are deterministic functions of a seed (melody, harmony, bass and drums with
harmonic timbres): the tests use them too, so no media is committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DEMO_MUSIC_FOLDER", "demo_music_files", "synth_song"]

# Debian's drascula-music (free soundtrack of the adventure game Drascula), when installed.
DEMO_MUSIC_FOLDER = Path("/usr/share/scummvm/drascula/audio")
DEMO_TRACK_NAMES = ("track2.ogg", "track3.ogg", "track7.ogg", "track13.ogg", "track16.ogg")

_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])


def demo_music_files() -> list[Path]:
    return [DEMO_MUSIC_FOLDER / name for name in DEMO_TRACK_NAMES if (DEMO_MUSIC_FOLDER / name).is_file()]


def synth_song(
    seed: int, seconds: float, sample_rate_hz: int = 22050, *, transpose_semitones: float = 0.0, tempo: float = 1.0
) -> np.ndarray:
    """Return `seconds` of a deterministic synthetic song, mono float32 peaking at 0.9: the same
    song for the same seed, played `transpose_semitones` higher and `tempo` times as fast (the
    notes' pitch kept) when asked, as a DJ's key and tempo controls do."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate_hz)
    out = np.zeros(n, np.float64)
    beat_s = 60.0 / rng.uniform(88, 140) / tempo
    root = int(rng.integers(52, 64)) + transpose_semitones
    t_note = 0.0
    while t_note < seconds:
        length_s = beat_s * float(rng.choice([0.5, 0.5, 1.0, 1.5]))
        degree = int(rng.integers(0, 14))
        midi = root + 12 * (degree // 7) + _SCALE[degree % 7]
        _add_note(out, sample_rate_hz, t_note, length_s, midi, harmonics=int(rng.integers(3, 7)), amp=0.35)
        if rng.random() < 0.5:  # a harmony note a third or a fifth below
            _add_note(out, sample_rate_hz, t_note, length_s, midi - int(rng.choice([3, 4, 7])), harmonics=3, amp=0.18)
        t_note += length_s
    t_bass = 0.0
    while t_bass < seconds:
        midi = root - 12 + _SCALE[int(rng.integers(0, 7))]
        _add_note(out, sample_rate_hz, t_bass, beat_s * 2, midi, harmonics=4, amp=0.3)
        t_bass += beat_s * 2
    t_drum = 0.0
    while t_drum < seconds:
        start = int(t_drum * sample_rate_hz)
        length = min(int(0.05 * sample_rate_hz), n - start)
        if length > 0:
            burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.01 * sample_rate_hz))
            out[start : start + length] += 0.15 * burst
        t_drum += beat_s / 2
    return (out / np.max(np.abs(out)) * 0.9).astype(np.float32)


def _add_note(
    out: np.ndarray, rate: int, start_s: float, length_s: float, midi: float, *, harmonics: int, amp: float
) -> None:
    start = int(start_s * rate)
    length = min(int(length_s * rate), out.size - start)
    if length <= 0:
        return
    t = np.arange(length) / rate
    freq = 440.0 * 2 ** ((midi - 69) / 12)
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / max(length_s, 0.05) * 2.5)
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k**1.2 for k in range(1, harmonics + 1) if freq * k < rate / 2)
    out[start : start + length] += amp * envelope * tone
