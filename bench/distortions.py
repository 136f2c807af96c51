"""Query distortions for the benchmark: what a phone in a bar does to a song.

Each function takes mono float32 samples and returns new samples at the same rate; randomness
comes from the generator passed in, so every query is reproducible from its seed.
"""

from __future__ import annotations

import subprocess

import numpy as np
from scipy import signal

__all__ = ["add_noise", "change_speed", "mix", "mp3_roundtrip", "power", "room", "telephone"]


def power(x: np.ndarray) -> float:
    return float(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-12


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise at the given signal-to-noise ratio (over the whole excerpt)."""
    noise = rng.standard_normal(x.size)
    noise *= np.sqrt(power(x) / (10 ** (snr_db / 10)) / power(noise))
    return _normalise(x + noise)


def mix(x: np.ndarray, other: np.ndarray, snr_db: float) -> np.ndarray:
    """Mix in another recording (ambience or an unrelated song) at the given ratio."""
    other = np.resize(other, x.size)
    other = other * np.sqrt(power(x) / (10 ** (snr_db / 10)) / power(other))
    return _normalise(x + other)


def mp3_roundtrip(x: np.ndarray, sample_rate_hz: int, bitrate_kbps: int = 64) -> np.ndarray:
    """Encode to MP3 with LAME through ffmpeg and decode back."""
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    encode = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "s16le",
            "-ar",
            str(sample_rate_hz),
            "-ac",
            "1",
            "-i",
            "pipe:0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            f"{bitrate_kbps}k",
            "-f",
            "mp3",
            "pipe:1",
        ],
        input=pcm,
        capture_output=True,
        check=True,
    )
    decode = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "mp3",
            "-i",
            "pipe:0",
            "-f",
            "s16le",
            "-ar",
            str(sample_rate_hz),
            "-ac",
            "1",
            "pipe:1",
        ],
        input=encode.stdout,
        capture_output=True,
        check=True,
    )
    y = np.frombuffer(decode.stdout, "<i2").astype(np.float32) / 32768
    # LAME adds encoder delay at the start; keep the length of the input.
    return np.resize(y, x.size) if y.size >= x.size else np.pad(y, (0, x.size - y.size))


def telephone(x: np.ndarray, sample_rate_hz: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Band-limit to 300-3400 Hz through an 8 kHz channel, then add line noise."""
    narrow = signal.resample_poly(x, 8000, sample_rate_hz) if sample_rate_hz != 8000 else x
    sos = signal.butter(6, [300, 3400], btype="bandpass", fs=8000, output="sos")
    narrow = signal.sosfilt(sos, narrow)
    narrow = add_noise(narrow.astype(np.float32), snr_db, rng)
    back = signal.resample_poly(narrow, sample_rate_hz, 8000) if sample_rate_hz != 8000 else narrow
    return _normalise(np.resize(back, x.size))


def room(x: np.ndarray, sample_rate_hz: int, rng: np.random.Generator, rt60_s: float = 0.4) -> np.ndarray:
    """Convolve with a synthetic room: a direct path plus exponentially decaying noise (RT60)."""
    n = int(rt60_s * 1.5 * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    impulse = rng.standard_normal(n) * np.exp(-6.91 * t / rt60_s)  # -60 dB at rt60
    impulse[: int(0.005 * sample_rate_hz)] = 0  # first reflections arrive after ~5 ms
    impulse *= 0.6 / np.sqrt(np.sum(impulse**2))
    impulse[0] = 1.0
    return _normalise(signal.fftconvolve(x, impulse)[: x.size].astype(np.float32))


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play faster (factor > 1) or slower, pitch and tempo together, like a turntable or a radio edit."""
    from fractions import Fraction

    ratio = Fraction(1 / factor).limit_denominator(200)
    return _normalise(signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32))


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak * 0.9).astype(np.float32) if peak > 0 else x.astype(np.float32)
