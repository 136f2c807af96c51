"""bench/run.py's CPU accounting: a sandboxed ffmpeg's CPU is counted, or no figure is given."""

import os
import subprocess

from bench import run
from recognition.engine import audio

# About a second of CPU: two minutes of noise encoded to MP3, thrown away.
BUSY = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=120:r=48000"]
BUSY += ["-c:a", "libmp3lame", "-f", "null", "-"]


def spent_on_busy_child(monkeypatch) -> dict[str, float]:
    monkeypatch.setattr(run, "_cpu_group", [])  # joined afresh by this test
    before = run.cpu_seconds(None)
    subprocess.run(audio.sandboxed(BUSY, audio.DecodeLimits()), check=True)
    after = run.cpu_seconds(None)
    return {part: after[part] - before[part] for part in after}


def test_a_sandboxed_child_is_counted_or_left_out(monkeypatch):
    spent = spent_on_busy_child(monkeypatch)
    if os.access(run.CPU_GROUPS, os.W_OK):
        assert run.cpu_group() is not None
        assert spent["children"] > 0.3, spent  # getrusage(RUSAGE_CHILDREN) sees ~0 of it under bubblewrap
        assert spent["python"] < 0.2, spent
    else:
        assert ("children" in spent) == (audio.sandbox_mode() != "bwrap"), spent


def test_without_a_group_bubblewraps_children_are_not_claimed(monkeypatch, tmp_path):
    monkeypatch.setattr(run, "CPU_GROUPS", tmp_path / "absent")
    spent = spent_on_busy_child(monkeypatch)
    assert run.cpu_group() is None
    assert ("children" in spent) == (audio.sandbox_mode() != "bwrap"), spent
