"""A strict in-process reader for plain PCM WAV: the common format of clips that programs send.

Starting ffmpeg costs ~50 ms (it loads ~200 shared libraries) against ~10 ms for the engine on a
5 s clip, so a WAV file that holds nothing but 16-bit or float samples is read here instead,
without a child process. The reader accepts only what it can check completely and refuses (returns
None) everything else, which then goes to the sandboxed ffmpeg as before:

- a RIFF/WAVE file whose RIFF size is the file's size, with one `fmt ` and one `data` chunk, every
  chunk inside the file (no size that lies, no data past the end, no overlapping chunk);
- PCM 16-bit or IEEE float 32-bit, plain or WAVE_FORMAT_EXTENSIBLE with one of those two
  subformats (no 8/24/32-bit integers, no A-law, no ADPCM, no other extension);
- 1 or 2 channels, 8-192 kHz, with the block size and byte rate those imply;
- float samples that are all finite.

What it reads is bounded like ffmpeg's decode: at most `max_seconds` of audio, and at most
`MAX_READ_BYTES` of samples in memory (a longer recording streams through ffmpeg in chunks). The
file is read with plain reads at offsets the header gave, never seeking past its end. Audio is
mixed to mono as the mean of the channels and resampled to the engine rate with scipy's
polyphase resampler; the match and offset are those of ffmpeg's decode (tests/recognition/
engine/test_wav.py). No Django import.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

__all__ = ["MAX_READ_BYTES", "WavAudio", "read_wav"]

# Samples held in memory at once: 64 MiB is 6 min of 44.1 kHz stereo 16-bit, far above a clip
# (30 s) and the recordings partners send; anything longer streams through ffmpeg in chunks.
MAX_READ_BYTES = 64 << 20
# The header of a plain WAV is 44 bytes; one with LIST/bext/fact chunks a few kB. Past this many
# chunks before the samples, a file is not plain.
MAX_CHUNKS = 16
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192_000
# The resampler's filter has ~20 x max(up, down) taps: rates whose ratio to the engine rate does
# not reduce below this (44101 Hz, say) would cost more than ffmpeg and go there instead.
MAX_RESAMPLE_FACTOR = 1024

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
# The KSDATAFORMAT_SUBTYPE GUIDs' common tail: the subformat is the format tag in the first 2 bytes.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True)
class WavAudio:
    """What the reader found: the samples at the engine rate and the file's own format."""

    samples: np.ndarray  # mono float32 in [-1, 1] at the requested rate
    sample_rate_hz: int  # the file's
    channels: int
    duration_s: float  # of the whole data chunk, as the header gives it


@dataclass(frozen=True)
class _Format:
    tag: int
    channels: int
    rate_hz: int
    bits: int


class _NotPlain(Exception):
    """The file is not a plain PCM WAV file this reader takes: ffmpeg decides what it is."""


def read_wav(path: str | os.PathLike, *, sample_rate_hz: int, max_seconds: float) -> WavAudio | None:
    """Read a plain PCM WAV file to mono float32 at `sample_rate_hz`, at most `max_seconds` of it;
    None when the file is anything else (let ffmpeg decide)."""
    try:
        with open(path, "rb") as handle:
            fmt, data_at, data_bytes = _layout(handle, os.fstat(handle.fileno()).st_size)
            block = fmt.channels * fmt.bits // 8
            frames = data_bytes // block
            wanted = min(frames, max(0, math.floor(max_seconds * fmt.rate_hz)))
            _refuse_unless(wanted * block <= MAX_READ_BYTES)
            handle.seek(data_at)
            raw = handle.read(wanted * block)
        _refuse_unless(len(raw) == wanted * block)
        samples = _resample(_samples(raw, fmt), fmt.rate_hz, sample_rate_hz)
    except (_NotPlain, OSError):
        return None
    return WavAudio(samples, fmt.rate_hz, fmt.channels, frames / fmt.rate_hz)


def _refuse_unless(condition: bool) -> None:
    if not condition:
        raise _NotPlain


def _layout(handle: BinaryIO, size: int) -> tuple[_Format, int, int]:
    """The format and where the samples are (offset, bytes); raise _NotPlain when the file is not
    plain."""
    head = handle.read(12)
    _refuse_unless(len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE")
    # The RIFF size is the file's: not a size that lies, a cut file or bytes appended after it.
    _refuse_unless(struct.unpack_from("<I", head, 4)[0] + 8 == size)
    at, fmt = 12, None
    for _ in range(MAX_CHUNKS):
        chunk = handle.read(8)
        _refuse_unless(len(chunk) == 8)  # the file ended before the samples
        kind, length = chunk[:4], struct.unpack_from("<I", chunk, 4)[0]
        body_at = at + 8
        _refuse_unless(body_at + length <= size)  # no chunk claims more than the file holds
        if kind == b"fmt ":
            _refuse_unless(fmt is None and length <= 64)
            fmt = _format(handle.read(length))
        elif kind == b"data":
            _refuse_unless(fmt is not None and length > 0)
            assert fmt is not None
            _refuse_unless(length % (fmt.channels * fmt.bits // 8) == 0)
            # Anything after the samples (a pad byte, LIST, id3) is allowed and never read.
            return fmt, body_at, length
        at = body_at + length + (length & 1)
        handle.seek(at)
    raise _NotPlain


def _format(body: bytes) -> _Format:
    """The `fmt ` chunk of 16-bit PCM or 32-bit float, 1-2 channels, 8-192 kHz; raise _NotPlain
    for any other."""
    _refuse_unless(len(body) >= 16)
    tag, channels, rate, byte_rate, block, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        _refuse_unless(len(body) >= 40 and struct.unpack_from("<H", body, 16)[0] >= 22)
        subformat = body[24:40]
        _refuse_unless(struct.unpack_from("<H", body, 18)[0] == bits and subformat[2:] == _GUID_TAIL)
        tag = struct.unpack_from("<H", subformat)[0]
    _refuse_unless((tag, bits) in {(_PCM, 16), (_FLOAT, 32)})
    _refuse_unless(channels in (1, 2) and MIN_RATE_HZ <= rate <= MAX_RATE_HZ)
    _refuse_unless(block == channels * bits // 8 and byte_rate == rate * block)
    return _Format(tag, channels, rate, bits)


def _samples(raw: bytes, fmt: _Format) -> np.ndarray:
    """Mono float32 at the file's rate: the mean of the channels, clipped to [-1, 1] as ffmpeg's
    conversion to 16-bit clips; raise _NotPlain for float samples that are not finite."""
    if fmt.tag == _PCM:
        values = np.frombuffer(raw, "<i2").astype(np.float32) * np.float32(1 / 32768)
    else:
        values = np.frombuffer(raw, "<f4").astype(np.float32)
        _refuse_unless(bool(np.isfinite(values).all()))
    if fmt.channels == 2:
        values = values.reshape(-1, 2).mean(axis=1, dtype=np.float32)
    if fmt.tag == _FLOAT:
        values = np.clip(values, -1.0, 1.0)
    return values


def _resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """`samples` at `to_hz` (polyphase, Kaiser window); raise _NotPlain when the ratio is too unusual."""
    if from_hz == to_hz:
        return samples
    common = math.gcd(from_hz, to_hz)
    up, down = to_hz // common, from_hz // common
    _refuse_unless(max(up, down) <= MAX_RESAMPLE_FACTOR)
    if samples.size == 0:
        return samples
    # Imported here: scipy.signal takes about a second of CPU to import (it parses its docstrings),
    # which every process that imports the engine would pay, also the many that never resample.
    from scipy import signal

    return signal.resample_poly(samples, up, down).astype(np.float32)
