"""Query distortions for the benchmark: what a phone in a bar does to a song.

Each function takes mono float32 samples and returns new samples at the same rate; randomness
comes from the generator passed in, so every query is reproducible from its seed.
"""

from __future__ import annotations

import subprocess

import numpy as np
from scipy import signal

__all__ = [
    "add_noise",
    "change_speed",
    "mix",
    "mp3_roundtrip",
    "pitch_shift",
    "power",
    "room",
    "speech",
    "telephone",
    "tempo_change",
    "voice_over",
]


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


def room(
    x: np.ndarray,
    sample_rate_hz: int,
    rng: np.random.Generator,
    rt60_s: float = 0.4,
    direct_to_reverberant_db: float = -20 * np.log10(0.6),
) -> np.ndarray:
    """Convolve with a synthetic room: a direct path plus exponentially decaying noise (RT60),
    the tail's energy `direct_to_reverberant_db` below the direct path's (4.4 dB: the benchmark's
    `room`; 0 dB: as much reverberation as direct sound, a hall or a phone across a room)."""
    n = int(rt60_s * 1.5 * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    impulse = rng.standard_normal(n) * np.exp(-6.91 * t / rt60_s)  # -60 dB at rt60
    impulse[: int(0.005 * sample_rate_hz)] = 0  # first reflections arrive after ~5 ms
    # The default (a tail of norm 0.6) is the impulse the benchmark's `room` always had.
    impulse *= 10 ** (-direct_to_reverberant_db / 20) / np.sqrt(np.sum(impulse**2))
    impulse[0] = 1.0
    return _normalise(signal.fftconvolve(x, impulse)[: x.size].astype(np.float32))


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play faster (factor > 1) or slower, pitch and tempo together, like a turntable or a radio edit."""
    from fractions import Fraction

    ratio = Fraction(1 / factor).limit_denominator(200)
    return _normalise(signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32))


def _sox(x: np.ndarray, sample_rate_hz: int, *effect: str) -> np.ndarray:
    """Run mono float samples through one of sox's effects (Debian's `sox`), same rate out."""
    raw = ["-t", "raw", "-r", str(sample_rate_hz), "-e", "signed", "-b", "16", "-c", "1"]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    result = subprocess.run(["sox", "-V1", *raw, "-", *raw, "-", *effect], input=pcm, capture_output=True, check=True)
    return np.frombuffer(result.stdout, "<i2").astype(np.float32) / 32768


def pitch_shift(x: np.ndarray, sample_rate_hz: int, semitones: float) -> np.ndarray:
    """Shift the pitch by `semitones`, tempo kept (sox's `pitch`: WSOLA, then resampling), as a
    DJ's key change or a "pitched" re-upload does."""
    return _normalise(_sox(x, sample_rate_hz, "pitch", f"{100 * semitones:.0f}"))


def tempo_change(x: np.ndarray, sample_rate_hz: int, factor: float) -> np.ndarray:
    """Play `factor` times as fast, pitch kept (sox's `tempo`, WSOLA tuned for music), as a DJ's
    tempo fader or a time-stretched edit does: `factor` seconds of `x` make one second out."""
    return _normalise(_sox(x, sample_rate_hz, "tempo", "-m", f"{factor:.4f}"))


# Voices of espeak-ng (Debian's `espeak-ng`): languages and variants, male and female, so that
# voice-over differs from clip to clip in pitch, timbre and rhythm.
VOICES = ("en", "en-us", "en-gb-scotland", "de", "fr", "es", "it", "pt", "nl", "pl")
VARIANTS = ("m1", "m3", "m5", "m7", "f1", "f2", "f4", "klatt2", "croak", "whisperf")
_SCRIPT = (
    "the music we chose for this video is one of the best things about our trip and today we show you "
    "how to cook a simple dinner in ten minutes before we start please subscribe to the channel and "
    "tell us in the comments what you think about the new camera the weather was perfect all week long "
    "so we walked along the river every morning this is the part where everything goes wrong again"
)
WORDS = tuple(_SCRIPT.split())


def speech(seconds: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """About `seconds` of synthetic speech (espeak-ng: a random voice, rate and pitch, random
    words), with the pauses of a speaker between phrases; zero-padded or cut to length."""
    n = int(seconds * sample_rate_hz)
    out = np.zeros(0, np.float32)
    while out.size < n:
        voice = f"{VOICES[int(rng.integers(len(VOICES)))]}+{VARIANTS[int(rng.integers(len(VARIANTS)))]}"
        words = " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), int(rng.integers(6, 16))))
        wav = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(int(rng.integers(140, 200))), "-p", str(int(rng.integers(25, 75))),
             "--stdout", words],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        phrase, rate = _wav_samples(wav)
        phrase = signal.resample_poly(phrase, sample_rate_hz, rate).astype(np.float32)
        pause = np.zeros(int(rng.uniform(0.1, 0.5) * sample_rate_hz), np.float32)
        out = np.concatenate([out, phrase, pause])
    start = int(rng.integers(0, max(1, out.size - n)))
    return out[start : start + n]


def _wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    import io
    import wave

    with wave.open(io.BytesIO(data)) as handle:
        rate = handle.getframerate()
        frames = handle.readframes(handle.getnframes())
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768, rate


def voice_over(x: np.ndarray, voice: np.ndarray, speech_above_db: float) -> np.ndarray:
    """Speak over the music, the speech `speech_above_db` louder (mean power over the clip, as
    a video's voice-over is mixed: the music ducked under the voice)."""
    voice = np.resize(voice, x.size)
    return mix(voice, x, speech_above_db)


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak * 0.9).astype(np.float32) if peak > 0 else x.astype(np.float32)
