"""Replay fuzz inputs through the atheris targets (G18): saved crashers and a few fixed seeds.

`make fuzz` writes any crashing input to tests/fuzz/crashes/<target>-...; once the bug is fixed it
stays there and this test replays it, so a fixed crash can never come back unnoticed.
"""

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FUZZ = Path(__file__).resolve().parent / "fuzz"
TARGETS = ["fuzz_fingerprint", "fuzz_listen", "fuzz_decode", "fuzz_wav"]


def _seeds(folder: Path) -> list[Path]:
    rng = np.random.default_rng(18)
    tone = (np.sin(np.arange(4000) * 0.3) * 20000).astype("<i2").tobytes()
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 22050, 44100, 2, 16)
    wav = fmt + b"data" + struct.pack("<I", len(tone)) + tone  # behind fuzz_wav's RIFF header (first byte even)
    inputs = {
        "empty": b"",
        "short": b"\x01\x02",
        "tone": b"\x01\x00\x10" + tone,
        "noise": rng.bytes(4000),
        "wav chunks": b"\x00" + wav,
    }
    paths = []
    for name, data in inputs.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_replays_its_inputs_without_crashing(target, tmp_path):
    inputs = _seeds(tmp_path) + sorted((FUZZ / "crashes").glob(f"{target}-*"))
    result = subprocess.run(
        [sys.executable, str(FUZZ / f"{target}.py"), *map(str, inputs)],
        cwd=FUZZ.parent.parent,
        env={"PYTHONPATH": str(FUZZ.parent.parent), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("Running: ") >= len(inputs)  # libFuzzer ran every input
