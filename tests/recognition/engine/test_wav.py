"""The in-process WAV reader: plain PCM read as ffmpeg decodes it, everything else left to ffmpeg."""

import struct

import numpy as np
import pytest

from catalog.demo import synth_song
from recognition.engine import audio, wav
from tests import hostile, media

RATE = 8000


def _wav_bytes(
    pcm: bytes, *, tag=1, channels=1, rate=44100, bits=16, extensible=None, extra_chunks=b"", riff_size=None
) -> bytes:
    """A WAV file written by hand, so that any field can lie."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * block, block, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 0) + extensible
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", len(pcm)) + pcm + b"\0" * (len(pcm) & 1)
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _guid(tag: int) -> bytes:
    return struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def _song_pcm(seconds: float, rate: int = 44100, dtype="<i2") -> np.ndarray:
    from scipy import signal

    song = signal.resample_poly(synth_song(3, seconds), rate // 50, media.FILE_RATE // 50).astype(np.float32)
    return (song * 30000).astype(dtype) if dtype == "<i2" else (song * 0.9).astype(dtype)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _interior_error(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference away from the first and last 10 ms (where each resampler starts from zero)."""
    assert a.size == b.size
    return float(np.sqrt(np.mean((a[80:-80] - b[80:-80]) ** 2)) / np.sqrt(np.mean(a[80:-80] ** 2)))


@pytest.mark.parametrize(
    ("rate", "channels", "kind"),
    [(44100, 1, "pcm"), (48000, 2, "pcm"), (8000, 1, "pcm"), (22050, 2, "float"), (16000, 1, "extensible float")],
)
def test_plain_wav_reads_as_ffmpeg_decodes_it(tmp_path, rate, channels, kind):
    song = _song_pcm(4, rate, "<i2" if kind == "pcm" else "<f4")
    interleaved = np.repeat(song, channels) if channels == 2 else song
    if kind == "pcm":
        data = _wav_bytes(interleaved.tobytes(), channels=channels, rate=rate)
    elif kind == "float":
        data = _wav_bytes(interleaved.tobytes(), tag=3, channels=channels, rate=rate, bits=32)
    else:
        data = _wav_bytes(interleaved.tobytes(), channels=channels, rate=rate, bits=32, extensible=_guid(3))
    path = _write(tmp_path, "clip.wav", data)
    found = wav.read_wav(path, sample_rate_hz=RATE, max_seconds=30)
    assert found is not None
    assert (found.sample_rate_hz, found.channels, found.duration_s) == (rate, channels, pytest.approx(4.0))
    by_ffmpeg = audio.decode(path, sample_rate_hz=RATE, max_seconds=30)
    assert found.samples.dtype == np.float32
    assert _interior_error(by_ffmpeg, found.samples) < 0.01  # -40 dB: 16-bit rounding and filter edges


def test_the_reader_reads_at_most_max_seconds_and_holds_a_bounded_amount(tmp_path, monkeypatch):
    path = _write(tmp_path, "long.wav", _wav_bytes(_song_pcm(6).tobytes()))
    found = wav.read_wav(path, sample_rate_hz=RATE, max_seconds=2.5)
    assert found is not None and found.samples.size == int(2.5 * RATE) and found.duration_s == pytest.approx(6.0)
    monkeypatch.setattr(wav, "MAX_READ_BYTES", 44100 * 2 * 2)  # 2 s of this file
    assert wav.read_wav(path, sample_rate_hz=RATE, max_seconds=2.0) is not None
    assert wav.read_wav(path, sample_rate_hz=RATE, max_seconds=3.0) is None  # to ffmpeg, which streams it


PCM = _song_pcm(1).tobytes()
LIST = b"LIST" + struct.pack("<I", 4) + b"INFO"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_wav_bytes(PCM, riff_size=36 + 3 * 3600 * 44100 * 2), id="RIFF size lies"),
        pytest.param(_wav_bytes(PCM)[:-100], id="data past the end of the file"),
        pytest.param(_wav_bytes(PCM) + b"ID3 appended", id="bytes after the RIFF"),
        pytest.param(_wav_bytes(PCM, bits=24), id="24-bit"),
        pytest.param(_wav_bytes(PCM, bits=8), id="8-bit"),
        pytest.param(_wav_bytes(PCM, tag=6, bits=16), id="A-law tag"),
        pytest.param(_wav_bytes(PCM, tag=3, bits=16), id="float of 16 bits"),
        pytest.param(_wav_bytes(PCM * 3, channels=6), id="6 channels"),
        pytest.param(_wav_bytes(PCM, rate=4000), id="4 kHz"),
        pytest.param(_wav_bytes(PCM, rate=384000), id="384 kHz"),
        pytest.param(_wav_bytes(PCM, rate=44101), id="a rate that does not reduce"),
        pytest.param(_wav_bytes(PCM, extensible=_guid(2)), id="extensible ADPCM"),
        pytest.param(_wav_bytes(PCM, extensible=b"\0" * 16), id="extensible, unknown GUID"),
        pytest.param(_wav_bytes(np.full(800, np.nan, "<f4").tobytes(), tag=3, bits=32), id="NaN floats"),
        pytest.param(_wav_bytes(b"\0" * 6, channels=2), id="data not whole frames"),
        pytest.param(_wav_bytes(b""), id="no samples"),
        pytest.param(_wav_bytes(PCM, extra_chunks=LIST * 20), id="too many chunks"),
        pytest.param(b"RIFF\x04\x00\x00\x00WAVE", id="no chunks"),
        pytest.param(b"RIFX" + _wav_bytes(PCM)[4:], id="big-endian RIFX"),
        pytest.param(b"RF64" + _wav_bytes(PCM)[4:], id="RF64"),
    ],
)
def test_anything_but_plain_pcm_is_left_to_ffmpeg(tmp_path, data):
    assert wav.read_wav(_write(tmp_path, "odd.wav", data), sample_rate_hz=RATE, max_seconds=30) is None


def test_a_header_whose_format_comes_after_its_data_is_left_to_ffmpeg(tmp_path):
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"data" + struct.pack("<I", 4) + b"\0" * 4 + b"fmt " + struct.pack("<I", 16) + fmt
    path = _write(tmp_path, "reversed.wav", b"RIFF" + struct.pack("<I", len(body)) + body)
    assert wav.read_wav(path, sample_rate_hz=RATE, max_seconds=30) is None


def test_other_chunks_before_the_samples_are_skipped(tmp_path):
    path = _write(
        tmp_path, "tagged.wav", _wav_bytes(PCM, extra_chunks=LIST + b"odd!" + struct.pack("<I", 3) + b"abc\0")
    )
    found = wav.read_wav(path, sample_rate_hz=RATE, max_seconds=30)
    assert found is not None and found.samples.size == RATE


@pytest.mark.parametrize("name", ["WAV whose data size lies", "6-channel 192 kHz WAV", "MP3 named .wav"])
def test_hostile_wav_files_go_to_ffmpeg(tmp_path, name):
    path = hostile.build(next(e for e in hostile.CORPUS if e.name == name), tmp_path)
    assert wav.read_wav(path, sample_rate_hz=RATE, max_seconds=30) is None
