"""Where ingest's CPU goes, stage by stage, on the benchmark corpus: the floor ffmpeg sets under it.

    .venv/bin/python -m bench.studies.ingest_cost [--rounds 3]   # after bench/run.py has built its corpus

Each stage runs over every indexed file of the corpus, stages interleaved round by round so that
all see the same machine; the median round is printed as x real time, by the wall clock and per
core (CPU of this process and its children summed):

- probe: the description every file gets before decoding (ffmpeg -i, no output);
- ffmpeg, decoder only: the file decoded at its own rate, written nowhere (no resampling, no pipe);
- decode: `audio.decode`, ffmpeg to mono 8 kHz through a pipe, as ingest reads it;
- decode, per-packet pipe: the same with the pipe flushed after every packet, as before 2026-12-03
  night (ffmpeg's default for pipes);
- reference: `reference_fingerprints`: probe + decode + fingerprints + sketches (no database);
- ffmpeg start: `ffmpeg -version` once per file, the cost of loading its shared libraries that
  every ffmpeg call pays before reading a byte;
- fingerprints + sketches: the engine alone on audio already decoded (bench/out/cache8k), in the
  60 s chunks ingest pushes.

The last lines say what the goal of 600x per core leaves once the probe and the decoder have run.
A run over the whole corpus also writes them to bench/results/ingest_cost.txt.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable

import numpy as np

from bench import OUT, RESULTS, corpus
from bench.run import cpu_seconds, setup_django


def _per_packet_decode(path: str) -> None:
    from recognition.engine import audio

    command = audio.ffmpeg_command(path, sample_rate_hz=8000, max_seconds=7200)
    at = command.index("-flush_packets")
    del command[at : at + 2]  # ffmpeg's default: a pipe is flushed after every packet
    subprocess.run(audio.sandboxed(command, audio.DecodeLimits()), capture_output=True, check=True)


def _decoder_only(path: str) -> None:
    from recognition.engine import audio

    command = audio.ffmpeg_command(path, sample_rate_hz=8000, max_seconds=7200)
    command = [*command[: command.index("-ac")], "-f", "null", "-"]
    subprocess.run(audio.sandboxed(command, audio.DecodeLimits()), stdout=subprocess.DEVNULL, check=True)


def _ffmpeg_start(path: str) -> None:
    from recognition.engine import audio

    command = audio.sandboxed(["ffmpeg", "-hide_banner", "-version"], audio.DecodeLimits())
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)


def _engine_only(decoded: dict[str, np.ndarray]) -> Callable[[str], object]:
    """Fingerprints and sketches of a file's audio from memory, pushed as ingest pushes it."""
    from recognition.engine.fingerprint import REFERENCE, StreamingFingerprinter
    from recognition.engine.sketch import StreamingSketch

    chunk = 60 * REFERENCE.sample_rate_hz  # audio.decode_chunks' default chunk

    def run(path: str) -> None:
        samples = decoded[path]
        stream, sketcher = StreamingFingerprinter(REFERENCE), StreamingSketch()
        for start in range(0, samples.size, chunk):
            stream.push(samples[start : start + chunk])
            sketcher.push(samples[start : start + chunk])
        stream.finish()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=0, help="the first N files only (default: all)")
    args = parser.parse_args()
    setup_django()
    from recognition.engine import audio
    from recognition.services.ingest import reference_fingerprints

    files = corpus.load_or_build(OUT / "corpus.json")["indexed"][: args.files or None]
    audio_s = sum(item["duration_s"] for item in files)
    stages: dict[str, Callable[[str], object]] = {
        "probe": audio.probe,
        "ffmpeg, decoder only": _decoder_only,
        "decode": lambda path: audio.decode(path, sample_rate_hz=8000, max_seconds=7200),
        "decode, per-packet pipe": _per_packet_decode,
        "reference": reference_fingerprints,
        "ffmpeg start": _ffmpeg_start,
        "fingerprints + sketches": _engine_only({item["path"]: corpus.decoded(item["path"]) for item in files}),
    }
    wall: dict[str, list[float]] = {name: [] for name in stages}
    cpu: dict[str, list[float]] = {name: [] for name in stages}
    if "children" not in cpu_seconds(None):
        raise SystemExit("run as root: ffmpeg's CPU under bubblewrap is counted in a cpuacct group (bench/run.py)")
    for _ in range(args.rounds):
        for name, stage in stages.items():
            before, started = cpu_seconds(None), time.perf_counter()
            for item in files:
                stage(item["path"])
            after = cpu_seconds(None)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(sum(after[part] - before[part] for part in ("python", "children")))
    lines = [
        f"# .venv/bin/python -m bench.studies.ingest_cost --rounds {args.rounds}   ({time.strftime('%Y-%m-%d %H:%M')})",
        f"{len(files)} files, {audio_s / 3600:.2f} h of audio; median of {args.rounds} interleaved rounds",
        f"{'stage':26s} {'wall s':>8s} {'CPU s':>8s} {'x wall':>8s} {'x per core':>11s}",
    ]
    for name in stages:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        lines.append(f"{name:26s} {w:8.2f} {c:8.2f} {audio_s / w:8.0f} {audio_s / c:11.0f}")
    cpu_s = {name: statistics.median(values) for name, values in cpu.items()}
    budget_s = audio_s / 600
    floor_s = cpu_s["probe"] + cpu_s["ffmpeg, decoder only"]
    start_s = cpu_s["ffmpeg start"]
    lines += [
        f"600x per core allows {budget_s:.2f} s of CPU; the probe and the decoder alone take {floor_s:.2f} s",
        f"  ({audio_s / floor_s:.0f}x), ffmpeg's start {start_s:.2f} s of it;",
        f"  left for resampling, the pipe, fingerprints, sketches and the database: {budget_s - floor_s:.2f} s,",
        f"  where fingerprints and sketches alone take {cpu_s['fingerprints + sketches']:.2f} s",
    ]
    print("\n".join(lines))
    if not args.files:  # the whole corpus: the latest figures, which docs/benchmarks.md quotes
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest_cost.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
