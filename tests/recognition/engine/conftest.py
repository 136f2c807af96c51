"""Engine fixtures shared by the engine's test modules: synthetic songs and the whole engine on them."""

import pytest

from recognition.engine import Identifier, MemoryIndex
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from tests import media


@pytest.fixture(scope="session")
def songs():
    return {seed: media.to_engine_rate(media.synth_song(seed, 60)) for seed in media.SONG_SEEDS}


@pytest.fixture(scope="session")
def index(songs):
    """The songs' landmarks and sketches in memory."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples), sk.sketch(samples))
    return index


@pytest.fixture(scope="session")
def engine(index):
    """The whole engine: landmarks and sketches (tests of one decision alone turn the others off)."""
    return Identifier(index)
