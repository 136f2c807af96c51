"""Fuzz target: any bytes as a file -> probe, decode, both at once -> fingerprint (only AudioError allowed)."""

import os
import sys
import tempfile

import atheris
from instrumented import PACKAGES

with atheris.instrument_imports(include=PACKAGES):
    from recognition.engine import audio
    from recognition.engine.fingerprint import QUERY, fingerprint

LIMITS = audio.DecodeLimits(timeout_s=10, cpu_s=10, probe_timeout_s=5)


def test_one(data: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".bin") as handle:
        handle.write(data)
        handle.flush()
        try:
            audio.probe(handle.name, limits=LIMITS)
            samples = audio.decode(handle.name, sample_rate_hz=8000, max_seconds=10, limits=LIMITS)
        except audio.AudioError:
            samples = None
        try:
            _, described = audio.decode_described(handle.name, sample_rate_hz=8000, max_seconds=10, limits=LIMITS)
        except audio.AudioError:
            return
        fingerprint(described, QUERY)
        if samples is not None:
            fingerprint(samples, QUERY)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
