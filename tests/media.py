"""Test media made in code: synthetic songs (catalog.demo.synth_song) and files ffmpeg encodes.

Different seeds are unrelated music, so tests need no committed media.
"""

from __future__ import annotations

import struct
import subprocess
import wave
import zlib
from pathlib import Path

import numpy as np

from catalog.demo import synth_song

__all__ = [
    "ENGINE_RATE",
    "FILE_RATE",
    "SONG_SEEDS",
    "add_noise",
    "encode",
    "ffmpeg",
    "played_faster",
    "synth_song",
    "synth_voice",
    "to_engine_rate",
    "video_with_audio",
    "video_without_audio",
    "voice_over",
    "write_wav",
]

ENGINE_RATE = 8000
FILE_RATE = 22050
# The synthetic catalog the engine's tests index (tests/recognition/engine/conftest.py).
SONG_SEEDS = range(1, 9)


def to_engine_rate(samples: np.ndarray, rate: int = FILE_RATE) -> np.ndarray:
    from scipy import signal

    return signal.resample_poly(samples, ENGINE_RATE, rate).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """The samples with white noise `snr_db` below their power, the same noise for the same seed."""
    noise = np.random.default_rng(seed).standard_normal(samples.size).astype(np.float32)
    noise *= np.sqrt(np.mean(samples**2) / 10 ** (snr_db / 10) / np.mean(noise**2))
    return samples + noise


def synth_voice(seconds: float, seed: int, rate: int = ENGINE_RATE) -> np.ndarray:
    """`seconds` of a made-up voice talking, peaking at 0.9: phrases of voiced syllables (a
    harmonic series on a gliding fundamental of 90-220 Hz, shaped by three formants that move
    from syllable to syllable) with a speaker's pauses between them, the same for the same seed."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * rate), np.float64)
    at = 0
    while at < out.size:
        for _ in range(int(rng.integers(4, 12))):
            n = min(int(rng.uniform(0.1, 0.3) * rate), out.size - at)
            if n <= 0:
                break
            first_hz, last_hz = rng.uniform(90, 220, 2)
            f0 = np.linspace(first_hz, last_hz, n)
            phase = 2 * np.pi * np.cumsum(f0) / rate
            formants = (rng.uniform(300, 800), rng.uniform(900, 2400), rng.uniform(2500, 3300))
            syllable = np.zeros(n)
            for k in range(1, int(rate / 2 / f0.max())):
                gain = sum(np.exp(-(((k * f0.mean() - f) / 120.0) ** 2)) for f in formants) + 0.05
                syllable += gain * np.sin(k * phase) / np.sqrt(k)
            out[at : at + n] += syllable * np.hanning(n)
            at += n + int(rng.uniform(0.0, 0.05) * rate)
        at += int(rng.uniform(0.1, 0.5) * rate)
    return (out / np.max(np.abs(out)) * 0.9).astype(np.float32)


def voice_over(music: np.ndarray, voice: np.ndarray, speech_above_db: float) -> np.ndarray:
    """`voice` spoken over `music`, `speech_above_db` louder (mean power), as a video's voice-over
    is mixed: the music ducked under it."""
    voice = np.resize(voice, music.size)
    gain = np.sqrt(np.mean(music**2) * 10 ** (speech_above_db / 10) / np.mean(voice**2))
    mixed = music + gain * voice
    return (mixed / np.max(np.abs(mixed)) * 0.9).astype(np.float32)


def played_faster(samples: np.ndarray, factor: float) -> np.ndarray:
    """The samples played `factor` times faster (pitch and tempo together), as a turntable would."""
    from fractions import Fraction

    from scipy import signal

    ratio = Fraction(1 / factor).limit_denominator(200)
    return signal.resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = FILE_RATE, channels: int = 1) -> Path:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        data = np.repeat(data[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(data.tobytes())
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def encode(samples: np.ndarray, path: Path, rate: int = FILE_RATE, *extra: str) -> Path:
    """Write samples to any format ffmpeg infers from the suffix (mp3, ogg, flac, ...)."""
    wav = path.with_suffix(".src.wav")
    write_wav(wav, samples, rate)
    ffmpeg("-i", str(wav), *extra, str(path))
    wav.unlink()
    return path


def video_with_audio(samples: np.ndarray, path: Path, rate: int = FILE_RATE) -> Path:
    """An MP4 with a test-pattern picture and the samples as its AAC soundtrack."""
    wav = path.with_suffix(".src.wav")
    write_wav(wav, samples, rate)
    seconds = samples.size / rate
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=160x120:rate=10:duration={seconds:.2f}",
        "-i",
        str(wav),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    wav.unlink()
    return path


def video_without_audio(path: Path, seconds: float = 3.0) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=160x120:rate=10:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(path),
    )
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height: a decompression bomb's first bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
