"""Fuzz target: socket messages -> frame parsing -> a listening session on an in-memory index."""

import os
import sys

import atheris
import numpy as np
from instrumented import PACKAGES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

with atheris.instrument_imports(include=PACKAGES):
    from catalog.demo import synth_song
    from recognition import limits
    from recognition.engine import Identifier, ListeningSession, MemoryIndex
    from recognition.engine import fingerprint as fp

INDEX = MemoryIndex()
for seed in (1, 2, 3):
    from scipy import signal

    INDEX.add(seed, fp.fingerprint(signal.resample_poly(synth_song(seed, 30), 8000, 22050).astype(np.float32)))
ENGINE = Identifier(INDEX)


def test_one(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    session = ListeningSession(ENGINE)
    for _ in range(provider.ConsumeIntInRange(1, 8)):
        message = provider.ConsumeBytes(provider.ConsumeIntInRange(0, 70 * 1024))
        if provider.ConsumeBool():
            message = None  # a text frame
        try:
            samples = limits.frame_samples(message, 64 * 1024)
        except limits.FrameError:
            continue
        session.push(samples)
    session.finish()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
