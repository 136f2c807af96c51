"""RELIABILITY.md's hostile-file corpus, generated at test time (nothing is committed).

Each entry: a file builder and what an upload path must answer. `accepted` files are real media
that must be taken (and may then turn out to hold no catalog music).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog.demo import synth_song
from tests import media


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    status: int  # HTTP status of an upload on arrival (202 = accepted for processing)
    code: str | None  # error code when refused or when the job fails
    job_fails: bool = False  # accepted on arrival (cheap checks pass), then the job fails with `code`
    long: bool = False  # longer than a clip: the API makes it a job too

    @property
    def sync_status(self) -> int:
        """Status from the API, which answers clips in the request and queues longer media (202)."""
        if self.status != 202 or self.long:
            return self.status
        return 422 if self.job_fails else 200


CORPUS = [
    Hostile("zero-length", "empty.wav", 400, "empty"),
    Hostile("text renamed .mp3", "notes.mp3", 415, "not_media"),
    Hostile("random bytes", "random.ogg", 415, "not_media"),
    Hostile("truncated MP3", "truncated.mp3", 202, "no_signal", job_fails=True),
    Hostile("WAV whose data size lies", "liar.wav", 202, "no_signal", job_fails=True),
    Hostile("HLS playlist", "stream.m3u8", 415, "not_media"),
    Hostile("ffconcat script", "list.ffconcat", 415, "not_media"),
    Hostile("10 h of silence as FLAC", "ten_hours.flac", 422, "too_long"),
    Hostile("10 min of silence", "silence.wav", 202, "no_signal", job_fails=True, long=True),
    Hostile("video without audio", "silent_film.mp4", 415, "no_audio"),
    Hostile("video with audio", "film.mp4", 202, None),
    Hostile("MP3 named .wav", "actually_mp3.wav", 202, None),
    Hostile("6-channel 192 kHz WAV", "surround.wav", 202, None),
    Hostile("Ogg/Opus", "voice.opus", 202, None),
    Hostile("WebM", "browser.webm", 202, None),
]


def build(entry: Hostile, folder: Path, *, canary_url: str = "http://127.0.0.1:9/canary") -> Path:
    """Write the file for `entry` into `folder` and return its path."""
    path = folder / entry.filename
    rate = media.FILE_RATE
    music = synth_song(777, 8)
    match entry.name:
        case "zero-length":
            path.write_bytes(b"")
        case "text renamed .mp3":
            path.write_text("These are my notes, not an MP3.\n" * 50)
        case "random bytes":
            path.write_bytes(np.random.default_rng(1).bytes(64 * 1024))
        case "truncated MP3":
            whole = media.encode(synth_song(778, 30), folder / "whole.mp3", rate, "-b:a", "128k")
            path.write_bytes(whole.read_bytes()[:2048])
            whole.unlink()
        case "WAV whose data size lies":
            # A header announcing 3 hours of 44.1 kHz stereo, then 50 ms of samples.
            data = (np.random.default_rng(2).standard_normal(2205 * 2) * 3000).astype("<i2").tobytes()
            claimed = 3 * 3600 * 44100 * 4
            header = (
                b"RIFF"
                + struct.pack("<I", 36 + claimed)
                + b"WAVEfmt "
                + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 44100 * 4, 4, 16)
                + b"data"
                + struct.pack("<I", claimed)
            )
            path.write_bytes(header + data)
        case "HLS playlist":
            segment = media.write_wav(folder / "segment.wav", music)
            path.write_text(
                f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{canary_url}\n#EXTINF:10,\n{segment}\n"
                "#EXT-X-ENDLIST\n"
            )
        case "ffconcat script":
            segment = media.write_wav(folder / "segment.wav", music)
            path.write_text(f"ffconcat version 1.0\nfile '{segment}'\nfile '/etc/passwd'\nfile '{canary_url}'\n")
        case "10 h of silence as FLAC":
            media.ffmpeg(
                "-f",
                "lavfi",
                "-i",
                "anullsrc=r=8000:cl=mono",
                "-t",
                "36000",
                "-c:a",
                "flac",
                "-compression_level",
                "12",
                str(path),
            )
        case "10 min of silence":
            media.write_wav(path, np.zeros(8000 * 600, np.float32), rate=8000)
        case "video without audio":
            media.video_without_audio(path)
        case "video with audio":
            media.video_with_audio(music, path)
        case "MP3 named .wav":
            mp3 = media.encode(music, folder / "real.mp3", rate)
            mp3.rename(path)
        case "6-channel 192 kHz WAV":
            from scipy import signal

            wide = signal.resample_poly(music, 192000 // 50, rate // 50).astype(np.float32)
            media.write_wav(path, wide, rate=192000, channels=6)
        case "Ogg/Opus":
            media.encode(music, path, rate, "-c:a", "libopus", "-b:a", "48k")
        case "WebM":
            media.encode(music, path, rate, "-c:a", "libopus", "-f", "webm")
        case _:
            raise ValueError(entry.name)
    return path
