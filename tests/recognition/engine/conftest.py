"""Engine fixtures shared by the engine's test modules: synthetic songs and the whole engine on them."""

import os
import subprocess
import sys
import textwrap

import pytest

from recognition.engine import Identifier, MemoryIndex, jail
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from tests import media
from tests.conftest import ROOT


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


_UNDER_FILTER = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import jail
    denied = dict(pair.split("=") for pair in sys.argv[2].split(","))
    jail.no_new_privs()
    jail.install_seccomp(jail.seccomp_filter({name: int(code) for name, code in denied.items()},
                                             clone_flags_denied=int(sys.argv[3])))
    os.execv(sys.executable, [sys.executable, *sys.argv[4:]])
""")


@pytest.fixture
def under_seccomp():
    """Run `python -c code *args` (from the project's root) under a seccomp filter that refuses the
    syscalls in `denied` (name: errno) and `clone` with any of `clone_flags_denied`: a container's
    profile, or a kernel without a feature, made with the decode sandbox's own filter builder."""

    def run(denied, code, *args, clone_flags_denied=0, env=None):
        rules = ",".join(f"{name}={number}" for name, number in denied.items())
        return subprocess.run(
            [sys.executable, "-c", _UNDER_FILTER, os.path.dirname(jail.__file__), rules, str(clone_flags_denied),
             "-c", code, *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    return run
