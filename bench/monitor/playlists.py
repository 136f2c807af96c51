"""What the benchmark's stations play: catalog songs, music never indexed, speech and silence.

The corpus (bench/corpus.py) is split in two halves with a fixed seed, versions of one recording
(`menu.opus` and `menu_enhanced.opus`) always on the same side: one half is indexed, the other,
with `hyperrogue-music`, is music the catalog has never seen. Each station's playlist is drawn
from a seed and rendered once to a mono WAV file that a stream server plays at real-time pace.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import OUT, corpus

__all__ = ["RATE_HZ", "Item", "Plan", "catalog_split", "plan_station", "render", "speech"]

RATE_HZ = 22050  # the stations' sample rate; the worker decodes to the engine's 8 kHz
CROSSFADE_S = 2.0  # a crossfade's length; a play starts and ends in its middle
LEVEL_DBFS = -18.0  # every item is brought to this RMS, as a station's processing does
SPLIT_SEED = 34
MIN_FILE_S = 30.0  # shorter files are indexed but never played (a play lasts at least 20 s)
STATIONS = OUT / "monitor" / "stations"

# (kind, share of items, shortest, longest seconds)
MIX = [("catalog", 0.42, 20.0, 40.0), ("unknown", 0.36, 20.0, 50.0), ("speech", 0.14, 8.0, 18.0),
       ("silence", 0.08, 3.0, 8.0)]  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One playlist item, placed in the station's own seconds (0 is the station's first sample)."""

    kind: str
    path: str
    offset_s: float  # where the excerpt starts in the file, at `start_s`
    start_s: float
    duration_s: float
    fade_in: bool  # crossfaded from the item before (else cut)


@dataclass(frozen=True)
class Plan:
    name: str
    items: tuple[Item, ...]
    duration_s: float


def _version_key(item: dict) -> str:
    return item["package"] + ":" + Path(item["path"]).stem.removesuffix("_enhanced")


def catalog_split(manifest: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(indexed, never indexed): half of the catalog packages' recordings each, plus hyperrogue never."""
    manifest = manifest or corpus.load_or_build(OUT / "corpus.json")
    files = manifest["indexed"] + manifest["held_out"]
    groups: dict[str, list[dict]] = {}
    for item in files:
        groups.setdefault(_version_key(item), []).append(item)
    keys = sorted(groups, key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    random.Random(SPLIT_SEED).shuffle(keys)
    indexed = [item for key in keys[: len(keys) // 2] for item in groups[key]]
    never = [item for key in keys[len(keys) // 2 :] for item in groups[key]] + manifest["foreign"]
    return sorted(indexed, key=lambda f: f["path"]), sorted(never, key=lambda f: f["path"])


def plan_station(name: str, seed: int, duration_s: float, indexed: list[dict], never: list[dict]) -> Plan:
    """A playlist of `duration_s`: it opens on speech or unknown music (never on a catalog song, so
    every catalog play starts after the monitor joined), then draws items by MIX."""
    rng = random.Random(seed)
    pools = {
        "catalog": [f for f in indexed if f["duration_s"] >= MIN_FILE_S],
        "unknown": [f for f in never if f["duration_s"] >= MIN_FILE_S],
    }
    kinds, weights = [k for k, *_ in MIX], [w for _, w, *_ in MIX]
    spans = {k: (lo, hi) for k, _, lo, hi in MIX}
    items: list[Item] = []
    at = 0.0
    recent: list[str] = []
    kind = rng.choice(["speech", "unknown"])
    while at < duration_s:
        lo, hi = spans[kind]
        length = round(rng.uniform(lo, hi), 2)
        path, offset = "", 0.0
        if kind in pools:
            choices = [f for f in pools[kind] if f["path"] not in recent] or pools[kind]
            chosen = rng.choice(choices)
            path = chosen["path"]
            offset = round(rng.uniform(CROSSFADE_S, max(CROSSFADE_S, chosen["duration_s"] - length - CROSSFADE_S)), 2)
            recent = [*recent, path][-6:]
        fade = bool(items) and kind in pools and items[-1].kind in pools and rng.random() < 0.5
        items.append(Item(kind, path, offset, round(at, 2), length, fade))
        at += length
        previous = kind
        kind = rng.choices(kinds, weights)[0]
        while kind == previous and kind in ("speech", "silence"):
            kind = rng.choices(kinds, weights)[0]
    return Plan(name, tuple(items), round(at, 2))


def speech(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound: a voice's pulse train through moving formants, in syllables and pauses.

    espeak-ng would be better; the machine's bootstrap does not install it, so the benchmark makes
    what matters to a fingerprinter: voiced harmonics whose formants move every ~150 ms, fricative
    noise, a syllabic rhythm around 4 Hz, and pauses.
    """
    from scipy import signal

    n = int(seconds * RATE_HZ)
    out = np.zeros(n, np.float32)
    at = 0
    f0 = rng.uniform(95, 210)
    while at < n:
        syllable = int(rng.uniform(0.12, 0.3) * RATE_HZ)
        end = min(n, at + syllable)
        t = np.arange(end - at) / RATE_HZ
        pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(1, 3) * t)) * rng.uniform(0.9, 1.1)
        phase = np.cumsum(pitch / RATE_HZ)
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float32)
        if rng.random() < 0.2:  # a fricative
            source = rng.standard_normal(end - at).astype(np.float32) * 0.3
            b, a = signal.butter(2, [2500, 5500], btype="band", fs=RATE_HZ)
            voiced = signal.lfilter(b, a, source)
        else:
            voiced = np.zeros(end - at)
            for formant, width in ((rng.uniform(300, 850), 80), (rng.uniform(850, 2300), 120), (2600, 200)):
                r = np.exp(-np.pi * width / RATE_HZ)
                theta = 2 * np.pi * formant / RATE_HZ
                voiced += signal.lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], pulses)
        envelope = np.sin(np.pi * np.linspace(0, 1, end - at)) ** 0.6
        out[at:end] = voiced * envelope
        at = end + (int(rng.uniform(0.2, 0.6) * RATE_HZ) if rng.random() < 0.15 else int(0.02 * RATE_HZ))
    return out


def _excerpt(item: Item, pad_s: float, rng: np.random.Generator) -> np.ndarray:
    """The item's audio from `pad_s` before its start to `pad_s` after its end, at LEVEL_DBFS."""
    from recognition.engine import audio

    n = round((item.duration_s + 2 * pad_s) * RATE_HZ)
    if item.kind == "silence":
        return (rng.standard_normal(n) * 10 ** (-70 / 20)).astype(np.float32)
    if item.kind == "speech":
        x = speech(item.duration_s + 2 * pad_s, rng)
    else:
        start = max(0.0, item.offset_s - pad_s)
        x = audio.decode(item.path, sample_rate_hz=RATE_HZ, start_s=start, max_seconds=item.duration_s + 2 * pad_s)
        lead = round((pad_s - (item.offset_s - start)) * RATE_HZ)
        x = np.concatenate([np.zeros(lead, np.float32), x])
    x = np.pad(x[:n], (0, max(0, n - x.size))).astype(np.float32)
    rms = float(np.sqrt(np.mean(x**2))) or 1.0
    return x * (10 ** (LEVEL_DBFS / 20) / rms)


def render(plan: Plan, folder: Path = STATIONS, seed: int = 0) -> Path:
    """Write the station's audio as a mono 16-bit WAV (once: the file is kept, named by its plan)."""
    digest = hashlib.sha256(json.dumps([asdict(i) for i in plan.items]).encode()).hexdigest()[:12]
    path = folder / f"{plan.name}-{digest}.wav"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = round(plan.duration_s * RATE_HZ) + RATE_HZ * 4
    mix = np.zeros(total, np.float32)
    half = CROSSFADE_S / 2
    for index, item in enumerate(plan.items):
        fade_in = item.fade_in
        fade_out = index + 1 < len(plan.items) and plan.items[index + 1].fade_in
        x = _excerpt(item, half, rng)
        ramp = int(CROSSFADE_S * RATE_HZ)
        gain = np.ones(x.size, np.float32)
        if fade_in:  # equal power over the crossfade, centred on the item's start
            gain[:ramp] = np.sin(np.linspace(0, np.pi / 2, ramp)) ** 1
        else:
            gain[: int(half * RATE_HZ)] = 0.0
        if fade_out:
            gain[-ramp:] = np.minimum(gain[-ramp:], np.cos(np.linspace(0, np.pi / 2, ramp)))
        else:
            gain[x.size - int(half * RATE_HZ) :] = 0.0
        begin = round((item.start_s - half) * RATE_HZ)
        lo = max(0, begin)
        segment = (x * gain)[lo - begin :]
        mix[lo : lo + segment.size] += segment[: total - lo]
    pcm = (np.clip(mix[: round(plan.duration_s * RATE_HZ)], -1, 1) * 32767).astype("<i2")
    partial = path.with_suffix(".partial")
    with wave.open(str(partial), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE_HZ)
        handle.writeframes(pcm.tobytes())
    partial.replace(path)
    return path


def encode_mp3(wav: Path, bitrate: str = "96k") -> Path:
    """The station's audio as a constant-bitrate MP3 (kept beside the WAV)."""
    mp3 = wav.with_suffix(".mp3")
    if not mp3.exists():
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", "-b:a", bitrate,
             "-f", "mp3", str(mp3.with_suffix(".partial"))],
            check=True,
        )  # fmt: skip
        mp3.with_suffix(".partial").replace(mp3)
    return mp3
