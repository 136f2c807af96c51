"""The benchmark corpus: real music from Debian's free game soundtracks, deduplicated and split.

`drascula-music`, `asc-music` and `warzone2100-music` are the catalog; about 10 % of their
tracks, chosen with a fixed seed, are never indexed and measure false matches. Music from another
package (`hyperrogue-music`), never seen by anything here, measures them a second time.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import OUT

CATALOG_PACKAGES = ("drascula-music", "asc-music", "warzone2100-music")
FOREIGN_PACKAGES = ("hyperrogue-music",)
AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav")
HELD_OUT_FRACTION = 0.10
SPLIT_SEED = 2026
DECODED_CACHE = OUT / "cache8k"
ENGINE_RATE = 8000


@dataclass(frozen=True)
class CorpusFile:
    path: str
    package: str
    sha256: str
    duration_s: float


def package_files(package: str) -> list[str]:
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout
    return sorted(line for line in listing.splitlines() if line.endswith(AUDIO_SUFFIXES) and "/sounds/" not in line)


def _duration(path: str) -> float | None:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return float(result.stdout.strip())
    except ValueError:
        return None  # unreadable (one hyperrogue file is corrupt upstream)


def discover(packages: tuple[str, ...]) -> list[CorpusFile]:
    """Every distinct, readable audio file of the packages (identical bytes counted once)."""
    seen: set[str] = set()
    files = []
    for package in packages:
        for path in package_files(package):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if digest in seen:
                continue  # Drascula ships the same soundtrack once per language
            seen.add(digest)
            duration = _duration(path)
            if duration and duration >= 5:
                files.append(CorpusFile(path, package, digest, duration))
    return files


def split(files: list[CorpusFile]) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """(indexed, held out): a seeded random tenth of the tracks is never indexed."""
    order = sorted(files, key=lambda f: f.sha256)
    random.Random(SPLIT_SEED).shuffle(order)
    n_held = max(1, round(len(order) * HELD_OUT_FRACTION))
    held = sorted(order[:n_held], key=lambda f: f.path)
    indexed = sorted(order[n_held:], key=lambda f: f.path)
    return indexed, held


def load_or_build(cache: Path) -> dict:
    """The corpus manifest, cached in `cache` (hashing 5 h of audio takes a few seconds)."""
    if cache.exists():
        return json.loads(cache.read_text())
    catalog = discover(CATALOG_PACKAGES)
    indexed, held = split(catalog)
    foreign = discover(FOREIGN_PACKAGES)
    manifest = {
        "indexed": [asdict(f) for f in indexed],
        "held_out": [asdict(f) for f in held],
        "foreign": [asdict(f) for f in foreign],
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(manifest, indent=1))
    return manifest


def decoded(path: str) -> np.ndarray:
    """A corpus file's whole audio at the engine rate (cached as int16 in bench/out/cache8k)."""
    from recognition.engine import audio

    DECODED_CACHE.mkdir(parents=True, exist_ok=True)
    cached = DECODED_CACHE / (Path(path).parent.name + "_" + Path(path).stem + ".npy")
    if not cached.exists():
        x = audio.decode(path, sample_rate_hz=ENGINE_RATE, max_seconds=7200)
        # Written aside and renamed: two studies run side by side must never read half a file.
        partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial.npy")
        np.save(partial, (x * 32767).astype(np.int16))
        partial.replace(cached)
    return np.load(cached).astype(np.float32) / 32767
