"""The demo catalog a new user can try at once: free music from Debian, and songs made here.

`manage.py load_demo` loads DEMO_ALBUMS: every file of two free soundtracks that `make run`
installs from Debian, named from the packages' own metadata (their copyright files and
descriptions: the files carry no tags), and two synthetic songs, which are there on any machine.
The synthetic songs are deterministic functions of a seed (melody, harmony, bass and drums with
harmonic timbres): the tests use them too, so no media is committed. Album covers are drawn here.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEMO_ALBUMS",
    "DEMO_MUSIC_FOLDER",
    "DemoAlbum",
    "DemoSong",
    "demo_cover",
    "demo_music_files",
    "synth_song",
]

# Debian's drascula-music (free soundtrack of the adventure game Drascula), when installed.
DEMO_MUSIC_FOLDER = Path("/usr/share/scummvm/drascula/audio")
# Five of its tracks: the real music the engine's tests use (all 31 are in the demo catalog).
DEMO_TRACK_NAMES = ("track2.ogg", "track3.ogg", "track7.ogg", "track13.ogg", "track16.ogg")
ASC_MUSIC_FOLDER = Path("/usr/share/games/asc/music")

_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])


@dataclass(frozen=True)
class DemoSong:
    """A song of the demo catalog: a file of a Debian package, or synthesised from `seed`."""

    title: str
    path: Path | None = None
    seed: int | None = None


@dataclass(frozen=True)
class DemoAlbum:
    """An album of the demo catalog, as a rights holder would describe it."""

    title: str
    artist: str
    year: int
    label: str
    links: tuple[str, ...]
    package: str  # the Debian package its files come from ("" for the synthetic songs)
    songs: tuple[DemoSong, ...]

    def present(self) -> tuple[DemoSong, ...]:
        """The songs this machine has: all synthetic ones, the package's files if installed."""
        return tuple(song for song in self.songs if song.path is None or song.path.is_file())


DEMO_ALBUMS = (
    # asc-music: three pieces by Michael Kievernagel for the strategy game Advanced Strategic
    # Command, GPL-2+ (2002, its copyright file); the file names are the titles.
    DemoAlbum(
        title="Advanced Strategic Command",
        artist="Michael Kievernagel",
        year=2002,
        label="ASC project",
        links=("http://www.asc-hq.de/",),
        package="asc-music",
        songs=tuple(
            DemoSong(title, ASC_MUSIC_FOLDER / name)
            for name, title in (
                ("frontiers.mp3", "Frontiers"),
                ("machine_wars.mp3", "Machine Wars"),
                ("time_to_strike.mp3", "Time to Strike"),
            )
        ),
    ),
    # drascula-music: the 31 soundtrack tracks of Drascula: The Vampire Strikes Back (Alcachofa
    # Soft, 1996, made free by them). The game names its music by number only, and so do we.
    DemoAlbum(
        title="Drascula: The Vampire Strikes Back",
        artist="Alcachofa Soft",
        year=1996,
        label="Alcachofa Soft S.L.",
        links=("https://www.scummvm.org/",),
        package="drascula-music",
        songs=tuple(DemoSong(f"Track {n}", DEMO_MUSIC_FOLDER / f"track{n}.ogg") for n in range(1, 32)),
    ),
    DemoAlbum(
        title="Earshot Demo Tapes",
        artist="Earshot Synth",
        year=2026,
        label="Earshot",
        links=(),
        package="",
        songs=(DemoSong("Earshot Demo Song", seed=7), DemoSong("Synthetic Sunrise", seed=8)),
    ),
)


def demo_music_files() -> list[Path]:
    """Five Drascula tracks, the real music of the engine's tests (those installed)."""
    return [DEMO_MUSIC_FOLDER / name for name in DEMO_TRACK_NAMES if (DEMO_MUSIC_FOLDER / name).is_file()]


def demo_cover(album: DemoAlbum, side_px: int = 600) -> bytes:
    """A PNG cover for an album, drawn from its title: two colours, rings, the title and artist."""
    from PIL import Image, ImageDraw, ImageFont

    digest = hashlib.sha256(album.title.encode()).digest()
    hue = digest[0] / 255
    top, bottom = _colour(hue, 0.55, 0.35), _colour((hue + 0.12) % 1, 0.6, 0.12)
    ramp = np.linspace(0, 1, side_px)[:, None, None]
    pixels = (np.array(top) * (1 - ramp) + np.array(bottom) * ramp) * np.ones((1, side_px, 1))
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    centre_x, centre_y = side_px * (0.55 + digest[1] / 1275), side_px * (0.35 + digest[2] / 1275)
    for ring in range(9, 0, -1):
        radius = side_px * 0.05 * ring
        shade = _colour((hue + 0.5) % 1, 0.5, 0.3 + 0.05 * (ring % 2))
        draw.ellipse(
            (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius), outline=shade, width=6
        )
    margin = side_px // 12
    title_font = ImageFont.load_default(size=side_px // 11)
    artist_font = ImageFont.load_default(size=side_px // 22)
    lines = textwrap.wrap(album.title, width=16)[:3]
    y = side_px - margin - len(lines) * side_px // 10 - side_px // 14
    for line in lines:
        draw.text((margin, y), line, fill="white", font=title_font)
        y += side_px // 10
    draw.text((margin, y + side_px // 80), album.artist, fill=(230, 230, 230), font=artist_font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _colour(hue: float, saturation: float, lightness: float) -> tuple[int, int, int]:
    import colorsys

    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return round(red * 255), round(green * 255), round(blue * 255)


def synth_song(
    seed: int, seconds: float, sample_rate_hz: int = 22050, *, transpose_semitones: float = 0.0, tempo: float = 1.0
) -> np.ndarray:
    """Return `seconds` of a deterministic synthetic song, mono float32 peaking at 0.9: the same
    song for the same seed, played `transpose_semitones` higher and `tempo` times as fast (the
    notes' pitch kept) when asked, as a DJ's key and tempo controls do."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate_hz)
    out = np.zeros(n, np.float64)
    beat_s = 60.0 / rng.uniform(88, 140) / tempo
    root = int(rng.integers(52, 64)) + transpose_semitones
    t_note = 0.0
    while t_note < seconds:
        length_s = beat_s * float(rng.choice([0.5, 0.5, 1.0, 1.5]))
        degree = int(rng.integers(0, 14))
        midi = root + 12 * (degree // 7) + _SCALE[degree % 7]
        _add_note(out, sample_rate_hz, t_note, length_s, midi, harmonics=int(rng.integers(3, 7)), amp=0.35)
        if rng.random() < 0.5:  # a harmony note a third or a fifth below
            _add_note(out, sample_rate_hz, t_note, length_s, midi - int(rng.choice([3, 4, 7])), harmonics=3, amp=0.18)
        t_note += length_s
    t_bass = 0.0
    while t_bass < seconds:
        midi = root - 12 + _SCALE[int(rng.integers(0, 7))]
        _add_note(out, sample_rate_hz, t_bass, beat_s * 2, midi, harmonics=4, amp=0.3)
        t_bass += beat_s * 2
    t_drum = 0.0
    while t_drum < seconds:
        start = int(t_drum * sample_rate_hz)
        length = min(int(0.05 * sample_rate_hz), n - start)
        if length > 0:
            burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.01 * sample_rate_hz))
            out[start : start + length] += 0.15 * burst
        t_drum += beat_s / 2
    return (out / np.max(np.abs(out)) * 0.9).astype(np.float32)


def _add_note(
    out: np.ndarray, rate: int, start_s: float, length_s: float, midi: float, *, harmonics: int, amp: float
) -> None:
    start = int(start_s * rate)
    length = min(int(length_s * rate), out.size - start)
    if length <= 0:
        return
    t = np.arange(length) / rate
    freq = 440.0 * 2 ** ((midi - 69) / 12)
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / max(length_s, 0.05) * 2.5)
    tone = sum(np.sin(2 * np.pi * freq * k * t) / k**1.2 for k in range(1, harmonics + 1) if freq * k < rate / 2)
    out[start : start + length] += amp * envelope * tone
