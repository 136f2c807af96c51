"""Fuzz target: bytes as a WAV file -> the in-process reader (None, or bounded finite samples; nothing raised)."""

import struct
import sys
import tempfile

import atheris
import numpy as np
from instrumented import PACKAGES

with atheris.instrument_imports(include=PACKAGES):
    from recognition.engine import wav

MAX_SECONDS = 2.0
RATE = 8000


def test_one(data: bytes) -> None:
    if not data:
        return
    # An odd first byte: the bytes as sent; even: behind a RIFF header that tells the truth, so
    # that the fuzzer works on the chunks.
    truthful = b"RIFF" + struct.pack("<I", len(data) - 1 + 4) + b"WAVE"
    body = data[1:] if data[0] & 1 else truthful + data[1:]
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        handle.write(body)
        handle.flush()
        found = wav.read_wav(handle.name, sample_rate_hz=RATE, max_seconds=MAX_SECONDS)
    if found is None:
        return
    samples = found.samples
    if samples.dtype != np.float32 or samples.ndim != 1 or not np.isfinite(samples).all():
        raise AssertionError(f"samples of {samples.dtype}, shape {samples.shape}, not all finite")
    if samples.size > MAX_SECONDS * RATE + 1 or found.channels not in (1, 2) or found.duration_s < 0:
        raise AssertionError(f"{samples.size} samples, {found.channels} channels, {found.duration_s} s")
    if samples.size and np.abs(samples).max() > 1.5:  # clipped to [-1, 1], then a resampler's ripple
        raise AssertionError(f"a sample of {np.abs(samples).max()}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
