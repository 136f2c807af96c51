"""What the decode sandbox costs per ffmpeg call, beside the call as it was before it.

    .venv/bin/python -m bench.studies.sandbox_cost [--rounds 40]

A 5 s clip (what a recognition decodes) is probed and decoded `--rounds` times in each mode, modes
interleaved round by round so that all see the same machine; the median wall time per call is
written to bench/results/sandbox_cost.json. "before" is the call as it was before the
sandbox: prlimit only, the server's environment inherited. The other modes are `audio.sandboxed`
with EARSHOT_DECODE_SANDBOX's choices: `bwrap` (what runs here), `landlock` (what runs in a
container whose seccomp profile refuses user namespaces), `unshare`, `env`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench import RESULTS
from recognition.engine import audio

OUTPUT = RESULTS / "sandbox_cost.json"
MODES = ("before", "env", "unshare", "landlock", "bwrap")


def _command(mode: str, command: list[str], path: Path) -> list[str]:
    limits = audio.DecodeLimits()
    if mode == "before":
        return [
            "prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_bytes}", "--fsize=0", "--core=0", "--", *command
        ]  # fmt: skip
    isolated = [*audio._isolation(mode, str(path)), *command]
    return ["prlimit", f"--cpu={limits.cpu_s}", f"--as={limits.memory_bytes}", "--fsize=0", "--core=0", "--", *isolated]


def _timed(command: list[str], *, describes: bool) -> float:
    """Run a call and return its wall time; raise when it did not do its work in that mode."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    # The probe asks for no output, so ffmpeg exits 1 once it has printed the description.
    worked = b"Input #0" in done.stderr if describes else done.returncode == 0
    if not worked:
        raise RuntimeError(f"{' '.join(command[-3:])} failed: {done.stderr.decode(errors='replace')[-300:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "clip.flac"
        rng = np.random.default_rng(7)
        pcm = (rng.standard_normal(5 * 44100) * 3000).astype("<i2").tobytes()
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "s16le", "-ar", "44100", "-ac", "1", "-i", "pipe:0", str(clip)],
            input=pcm, check=True,
        )  # fmt: skip
        probe = "probe (ffmpeg -i, no output)"
        calls = {
            probe: audio.probe_command(clip),
            "ffmpeg decode, 5 s to 8 kHz": audio.ffmpeg_command(clip, sample_rate_hz=8000, max_seconds=5),
            "process start only (`true`)": ["true"],
        }
        times: dict[str, dict[str, list[float]]] = {call: {mode: [] for mode in MODES} for call in calls}
        for _ in range(args.rounds):
            for call, command in calls.items():
                for mode in MODES:
                    times[call][mode].append(_timed(_command(mode, command, clip), describes=call == probe))
    medians = {call: {mode: statistics.median(t) * 1000 for mode, t in by.items()} for call, by in times.items()}
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": args.rounds,
        "machine_mode": audio.sandbox_mode(),
        "median_ms": medians,
    }
    OUTPUT.write_text(json.dumps(result, indent=2) + "\n")
    for call, by in medians.items():
        print(f"{call:32}", "  ".join(f"{mode} {ms:6.1f} ms" for mode, ms in by.items()))


if __name__ == "__main__":
    main()
