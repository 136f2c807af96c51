"""The one place that runs ffmpeg: any audio or video file -> mono float32 at the engine rate.

Every file is treated as hostile. Each call runs in a child process with a wall-clock timeout,
CPU-time, address-space and output-file limits (through util-linux `prlimit`, which is safe in a
threaded server where `preexec_fn` is not), reads only the local file (`-protocol_whitelist file`),
accepts only plain media demuxers (no playlists, concat scripts, device or network inputs) and
audio decoders (`-codec_whitelist`), and stops decoding after the caller's cap (`-t`), so a file
cannot make us decode hours of audio.

The child also runs in a sandbox, for the day a file exploits a decoder bug: bubblewrap gives it
an empty environment, no network, no other process, and a filesystem of `/usr` (read-only) plus
the one input file. Where user namespaces are refused (Docker's default seccomp profile), Landlock
and seccomp (`jail.py`) give it the same files and no socket; where those are missing too, the
strongest mode that works is used and `sandbox_mode()` says which (docs/decisions.md,
sandbox_mode). Messages for people are fixed texts (`MESSAGES`), never ffmpeg's stderr.

A process that decodes files of one kind again and again keeps children of that kind started
before their files (`PrestartedDecoders`): the same sandbox, limits and command line, waiting for
their file, each used for one file only. No Django import: the engine, the benchmark and the
fuzzers use it directly.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from recognition.engine import wav

__all__ = [
    "MESSAGES",
    "PRESTARTED",
    "SANDBOX_ENV",
    "AudioError",
    "DecodeLimits",
    "Decoding",
    "MediaInfo",
    "PrestartedDecoders",
    "decode",
    "decode_chunks",
    "decode_described",
    "encode_opus",
    "excerpt_mp3",
    "ffmpeg_command",
    "open_decode",
    "parse_description",
    "probe",
    "probe_command",
    "probe_usable",
    "sandbox_mode",
    "sandboxed",
    "usable",
]

logger = logging.getLogger(__name__)

# Demuxers for real audio and video files. Everything else is refused, notably `hls`, `dash`,
# `concat`, `image2`, `lavfi`, `rtp`/`rtsp`/`sdp` and raw PCM, which could read other files,
# reach the network or take arbitrary bytes as "audio".
ALLOWED_DEMUXERS = (
    "aac,ac3,aiff,amr,ape,asf,au,avi,caf,dts,eac3,flac,flv,loas,matroska,mov,mp3,mpc,mpeg,mpegts,ogg,tta,w64,wav,wv"
)

# Decoders for the audio those containers carry (what phones, browsers, rippers and broadcasters
# produce); no video, subtitle or image decoder ever opens on an untrusted file, and neither do the
# dozens of obscure game and telephony audio decoders, where most decoder bugs are found.
ALLOWED_DECODERS = ",".join(
    [
        "aac", "aac_fixed", "aac_latm", "ac3", "ac3_fixed", "eac3", "dca", "truehd", "mlp", "alac", "ape",
        "flac", "mp1", "mp1float", "mp2", "mp2float", "mp3", "mp3float", "opus", "libopus", "vorbis",
        "libvorbis", "wmav1", "wmav2", "wmapro", "wmalossless", "amrnb", "amrwb", "mpc7", "mpc8", "tta",
        "wavpack", "adpcm_ima_wav", "adpcm_ms", "pcm_alaw", "pcm_mulaw", "pcm_u8", "pcm_s8",
        "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_s32be",
        "pcm_f32le", "pcm_f32be", "pcm_f64le", "pcm_f64be",
    ]
)  # fmt: skip

# What a child process sees of the environment: nothing of the server's (database URL, secret key,
# storage credentials), only what ffmpeg needs to run.
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

# The texts shown to the person who sent a file, by code. Fixed: ffmpeg's stderr can hold server
# paths, library versions and whatever bytes the file put in its metadata.
MESSAGES = {
    "empty": "The file is empty.",
    "unreadable": "The file cannot be opened.",
    "not_media": "This is not an audio or video file that Earshot can read.",
    "no_audio": "The file has no audio stream.",
    "no_decodable_audio": "The file contains no decodable audio.",
    "too_long": "The file decodes to more audio than allowed.",
    "timeout": "Reading the file took too long.",
    "decode_failed": "The audio could not be decoded.",
    "encode_failed": "The excerpt could not be encoded.",
}


class AudioError(Exception):
    """A file that cannot be used as audio, with a reason fit to show the person who sent it.

    `code` is stable for programs: `empty`, `not_media`, `no_audio`, `too_long`, `no_signal`,
    `timeout`, `decode_failed`.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class DecodeLimits:
    """Resource limits for one ffmpeg child process."""

    timeout_s: float = 120.0
    cpu_s: int = 120
    memory_bytes: int = 1536 * 1024 * 1024
    probe_timeout_s: float = 15.0


@dataclass(frozen=True)
class MediaInfo:
    """What ffmpeg says about a file on opening it, before any decoding."""

    format_name: str
    duration_s: float | None
    audio_streams: int
    video_streams: int
    sample_rate_hz: int | None
    channels: int | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        return self.audio_streams > 0


# The filesystem a sandboxed child sees: the system's programs and libraries read-only (Debian's
# /lib, /bin are links into /usr; /etc only for the dynamic loader), an empty /dev and its own /proc.
_BWRAP_VIEW = [
    "--ro-bind", "/usr", "/usr",
    "--symlink", "usr/lib", "/lib",
    "--symlink", "usr/lib64", "/lib64",
    "--symlink", "usr/bin", "/bin",
    "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
    "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
    "--proc", "/proc",
    "--dev", "/dev",
]  # fmt: skip
SANDBOX_MODES = ("bwrap", "landlock", "unshare", "env")

# The Landlock and seccomp wrapper, run as a script: `-I -S` keeps the server's environment, site
# packages and current folder out of it, and its start cheap (it imports ctypes and nothing else).
_JAIL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jail.py")


def _isolation(mode: str, input_path: str | None) -> list[str]:
    """Return the argument prefix that isolates a child in `mode` (see `sandbox_mode`).

    Every mode starts with `env -i`, so that not even the sandbox's own process (pid 1 of its
    namespace, whose /proc/1/environ the child could read) holds the server's environment.
    """
    clean_env = ["env", "-i", *(f"{key}={value}" for key, value in SANDBOX_ENV.items())]
    if mode == "env":
        return clean_env
    if mode == "unshare":
        return [*clean_env, "unshare", "--user", "--map-root-user", "--net", "--ipc", "--pid", "--fork", "--"]
    if mode == "landlock":
        readable = ["--read", input_path] if input_path is not None else []
        return [*clean_env, sys.executable, "-I", "-S", _JAIL, *readable, "--"]
    prefix = [
        *clean_env, "bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--clearenv",
        *(arg for key, value in SANDBOX_ENV.items() for arg in ("--setenv", key, value)),
        *_BWRAP_VIEW,
    ]  # fmt: skip
    if input_path is not None:  # at the same path, so the command needs no rewriting
        prefix += ["--ro-bind", input_path, input_path]
    return [*prefix, "--chdir", "/", "--"]


@functools.cache
def sandbox_mode() -> str:
    """Return the strongest isolation that works here: `bwrap`, `landlock` (no socket, no file but
    /usr and the input, without namespaces: what works in a container with the default seccomp
    profile), `unshare` (no network, no other process, but the host's filesystem) or `env` (a clean
    environment only).

    `EARSHOT_DECODE_SANDBOX` insists on one mode; a mode that does not work then stops every decode
    instead of running it with less isolation than asked for.
    """
    wanted = os.environ.get("EARSHOT_DECODE_SANDBOX", "")
    for mode in [wanted] if wanted else SANDBOX_MODES:
        if mode not in SANDBOX_MODES:
            raise RuntimeError(f"EARSHOT_DECODE_SANDBOX must be one of {', '.join(SANDBOX_MODES)}, not {mode!r}")
        try:
            done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
                [*_isolation(mode, None), "true"], env=SANDBOX_ENV, capture_output=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            reason = str(error)
        else:
            if done.returncode == 0:
                if mode != "bwrap" and not wanted:
                    logger.warning("decode sandbox: bubblewrap is unusable here; using %r instead", mode)
                return mode
            reason = done.stderr.decode("utf-8", "replace").strip()
        logger.warning("decode sandbox: %s does not work here: %s", mode, reason)
    raise RuntimeError(f"the decode sandbox {wanted!r} does not work on this machine")


def sandboxed(
    command: list[str], limits: DecodeLimits, *, input_path: str | os.PathLike | None = None, mode: str | None = None
) -> list[str]:
    """Return the command run under CPU, address-space and file-size limits (no files written),
    isolated by `mode` (default `sandbox_mode()`): it sees no server environment and, with
    bubblewrap or Landlock, no network and no file but `input_path` (a file, or a folder and what
    it holds).
    """
    path = os.path.abspath(input_path) if input_path is not None else None
    isolated = [*_isolation(mode or sandbox_mode(), path), *command]
    prlimit = shutil.which("prlimit", path=SANDBOX_ENV["PATH"])
    if prlimit is None:  # pragma: no cover - util-linux is on every Debian system
        return isolated
    return [
        prlimit,
        f"--cpu={limits.cpu_s}",
        f"--as={limits.memory_bytes}",
        "--fsize=0",  # the child may write to pipes, never to files
        "--core=0",
        "--",
        *isolated,
    ]


def probe_command(path: str | os.PathLike) -> list[str]:
    """Return the ffmpeg argument list that describes an untrusted file (without resource limits).

    ffmpeg opens the input, analyses its streams with the audio decoders only, prints the
    description (`Input #0 …`) and stops: no output is asked for. ffprobe is not used because it
    opens a decoder for every stream, video too, and refuses the whole file when one is not
    allowed (docs/decisions.md, The decode sandbox).
    """
    return [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel", "info",
        "-threads", "1",
        "-protocol_whitelist", "file",
        "-format_whitelist", ALLOWED_DEMUXERS,
        "-codec_whitelist", ALLOWED_DECODERS,
        "-i", "file:" + os.fspath(path),
    ]  # fmt: skip


def ffmpeg_command(
    path: str | os.PathLike, *, sample_rate_hz: int, max_seconds: float, start_s: float = 0.0, describe: bool = False
) -> list[str]:
    """Return the ffmpeg argument list that decodes the first audio stream to mono s16le on stdout.

    With `describe`, ffmpeg also prints on stderr the description `probe_command` asks for (`Input
    #0 …`, before it decodes a byte), so one call both describes and decodes a file (`open_decode`).
    """
    command = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        *(["-loglevel", "info", "-nostats"] if describe else ["-loglevel", "error"]),
        "-threads", "1",
        "-protocol_whitelist", "file",
        "-format_whitelist", ALLOWED_DEMUXERS,
        "-codec_whitelist", ALLOWED_DECODERS,
    ]  # fmt: skip
    if start_s > 0:
        command += ["-ss", f"{start_s:.3f}"]
    command += [
        "-i", "file:" + os.fspath(path),
        "-map", "0:a:0",
        "-vn", "-sn", "-dn",
        "-t", f"{max_seconds:.3f}",
        "-ac", "1",
        "-ar", str(sample_rate_hz),
        "-f", "s16le",
        "-acodec", "pcm_s16le",
        # Write the pipe in full 32 KiB blocks, not one 20 ms packet at a time: per-packet writes
        # wake the reader ~50 times per second of audio, which costs more CPU than decoding it.
        "-flush_packets", "0",
        "pipe:1",
    ]  # fmt: skip
    return command


# The pipe a child writes its samples to holds a whole chunk of them (60 s at 8 kHz is 960 kB; 1 MiB
# is Linux's default most for an unprivileged process): ffmpeg goes on decoding while its reader
# fingerprints the chunk before, where the default 64 kB pipe stopped it after 4 s of audio.
PIPE_BYTES = 1 << 20


def _spawn(argv: list[str], *, stdin: int = subprocess.DEVNULL, stdout: int = subprocess.PIPE) -> subprocess.Popen:
    """Start a sandboxed child (`argv` from `sandboxed`) in its own session, its stderr piped,
    with the sandbox's environment: every decoder and probe is started this way."""
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=SANDBOX_ENV, start_new_session=True
    )
    if process.stdout is not None:
        with contextlib.suppress(OSError, AttributeError):  # a kernel that refuses keeps 64 kB
            fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)  # type: ignore[attr-defined]
    return process


def _run(
    command: list[str], *, input_path: Path, timeout_s: float, limits: DecodeLimits, max_output_bytes: int
) -> tuple[bytes, bytes, int]:
    """Run a sandboxed child; kill its whole process group on timeout. Return (stdout, stderr, code)."""
    process = _spawn(
        sandboxed(command, limits, input_path=input_path),
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AudioError("timeout", MESSAGES["timeout"]) from None
    if len(stdout) > max_output_bytes:  # -t makes this unreachable; kept as a hard stop
        raise AudioError("too_long", MESSAGES["too_long"])
    return stdout, stderr, process.returncode


def encode_opus(samples: np.ndarray, *, sample_rate_hz: int, bitrate_kbps: int = 16) -> bytes:
    """Encode mono samples (float in [-1, 1] or int16) as Ogg Opus: a monitor's evidence excerpt.

    16 kb/s mono keeps speech and music recognisable at ~2 KB a second (10 s is ~20 KB).
    """
    pcm = np.asarray(samples)
    if pcm.dtype != np.int16:
        pcm = (np.clip(pcm, -1.0, 1.0) * 32767).astype(np.int16)
    command = [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "pipe",
        "-codec_whitelist", "pcm_s16le", "-f", "s16le", "-ar", str(sample_rate_hz), "-ac", "1", "-i", "pipe:0",
        "-c:a", "libopus", "-b:a", f"{bitrate_kbps}k", "-application", "audio", "-f", "ogg", "pipe:1",
    ]  # fmt: skip
    limits = DecodeLimits(timeout_s=30.0, cpu_s=30)
    try:
        done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            sandboxed(command, limits), input=pcm.astype("<i2").tobytes(), capture_output=True,
            env=SANDBOX_ENV, timeout=limits.timeout_s, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AudioError("timeout", MESSAGES["timeout"]) from None
    if done.returncode != 0 or not done.stdout:
        logger.info("ffmpeg could not encode an excerpt: %s", _stderr_tail(done.stderr))
        raise AudioError("decode_failed", MESSAGES["encode_failed"])
    return done.stdout


def excerpt_mp3(
    path: str | os.PathLike,
    *,
    start_s: float,
    seconds: float,
    bitrate_kbps: int = 64,
    sample_rate_hz: int = 44100,
    limits: DecodeLimits = DecodeLimits(),
) -> bytes:
    """Cut `seconds` of the first audio stream from `start_s` as mono MP3 with short fades: a
    catalog track's preview. The file is read as untrusted like every other (same whitelists,
    sandbox and limits), and none of its tags reach the output.

    MP3 rather than Opus because every browser plays and decodes it, Safari's `<audio>` too.
    LAME's quality 7 (`-compression_level`) encodes in half the CPU time of its default 3, which
    a 64 kb/s mono preview does not need (docs/decisions.md, excerpt_mp3).
    """
    path = Path(path).absolute()
    _check_file(path)
    fade_out_s = max(0.0, seconds - 1.5)
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
        "-protocol_whitelist", "file", "-format_whitelist", ALLOWED_DEMUXERS, "-codec_whitelist", ALLOWED_DECODERS,
        "-ss", f"{max(0.0, start_s):.3f}", "-i", "file:" + os.fspath(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
        "-t", f"{seconds:.3f}", "-af", f"afade=t=in:d=0.5,afade=t=out:st={fade_out_s:.3f}:d=1.5",
        "-ac", "1", "-ar", str(sample_rate_hz), "-map_metadata", "-1", "-id3v2_version", "0", "-write_id3v1", "0",
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-compression_level", "7", "-f", "mp3", "pipe:1",
    ]  # fmt: skip
    max_bytes = int(seconds * bitrate_kbps * 1000 / 8 * 2) + 65536
    stdout, stderr, code = _run(
        command, input_path=path, timeout_s=limits.timeout_s, limits=limits, max_output_bytes=max_bytes
    )
    if code != 0 or not stdout:
        raise _nothing_decoded(code, stderr)
    return stdout


def _check_file(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError:
        raise AudioError("not_media", MESSAGES["unreadable"]) from None
    if size == 0:
        raise AudioError("empty", MESSAGES["empty"])


def probe(path: str | os.PathLike, *, limits: DecodeLimits = DecodeLimits()) -> MediaInfo:
    """Describe a media file. Raise AudioError when it is not a media file we accept."""
    path = Path(path).absolute()
    _check_file(path)
    process = _spawn(
        sandboxed(probe_command(path), limits, input_path=path),
        stdout=subprocess.DEVNULL,
    )
    timer = _Deadline(process, limits.probe_timeout_s)
    try:
        assert process.stderr is not None
        # A file's tags are printed too, and may be huge: read what a description needs at most.
        described = process.stderr.read(_MAX_DESCRIPTION_BYTES)
    finally:
        timer.cancel()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr:
            process.stderr.close()
    if timer.expired:
        raise AudioError("timeout", MESSAGES["timeout"])
    info = parse_description(described.decode("utf-8", "replace"))
    if info is None:
        raise AudioError("not_media", MESSAGES["not_media"])
    return info


_MAX_DESCRIPTION_BYTES = 1 << 20
_DURATION = re.compile(r"^  Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)")
_STREAM = re.compile(r"^  Stream #0:\d+\S*: (Audio|Video|Subtitle|Data|Attachment): (.*)$")
_TAG = re.compile(r"^(    |      )(\S[^:]*?)\s*: (.*)$")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def parse_description(text: str) -> MediaInfo | None:
    """Read ffmpeg's description of its input (`Input #0, <format>, from …`); None when there is none.

    Only the lines ffmpeg writes itself are read, by their exact indentation: a tag's value that
    holds a line break is printed on a continuation line with an empty key, so no tag can pass for
    a duration or a stream. Tags are the container's, then the first audio stream's.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Input #0, ")), None)
    if start is None:
        return None
    head = lines[start]
    format_name = head[len("Input #0, ") : head.rfind(", from '")] if ", from '" in head else ""
    duration: float | None = None
    audio, video = [], 0
    tags: dict[str, str] = {}
    section = "format"  # whose Metadata block the tag lines below belong to
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break  # the description ends (Stream mapping, an error, Output #0)
        if found := _DURATION.match(line):
            if found.group(1) is not None:
                duration = int(found.group(1)) * 3600 + int(found.group(2)) * 60 + float(found.group(3))
            section = "none"
        elif found := _STREAM.match(line):
            kind, details = found.groups()
            if kind == "Audio":
                audio.append(details)
            elif kind == "Video":
                video += 1
            section = "audio" if kind == "Audio" and len(audio) == 1 else "none"
        elif (found := _TAG.match(line)) and found.group(2) != "Metadata":
            indent, key, value = found.groups()
            if (section == "format" and indent == "    ") or (section == "audio" and indent == "      "):
                tags.setdefault(key.strip().lower(), value.strip())
    rate = re.search(r", (\d+) Hz", audio[0]) if audio else None
    layout = re.search(r" Hz, ([^,]+)", audio[0]) if audio else None
    channels = None
    if layout:
        word = layout.group(1).split("(")[0].strip()
        counted = re.fullmatch(r"(\d+) channels", word)
        channels = int(counted.group(1)) if counted else _CHANNELS.get(word)
    return MediaInfo(
        format_name=format_name,
        duration_s=duration if duration is not None and np.isfinite(duration) else None,
        audio_streams=len(audio),
        video_streams=video,
        sample_rate_hz=int(rate.group(1)) if rate else None,
        channels=channels,
        tags=tags,
    )


def probe_usable(path: str | os.PathLike, *, max_seconds: float, limits: DecodeLimits = DecodeLimits()) -> MediaInfo:
    """Probe a file and insist it is usable: an audio stream, no longer than `max_seconds`."""
    return usable(probe(path, limits=limits), max_seconds=max_seconds)


def usable(info: MediaInfo, *, max_seconds: float) -> MediaInfo:
    """Return `info` when it describes usable audio: an audio stream, no longer than `max_seconds`;
    raise AudioError otherwise."""
    if not info.has_audio:
        raise AudioError("no_audio", MESSAGES["no_audio"])
    if info.duration_s is not None and info.duration_s > max_seconds:
        raise AudioError(
            "too_long", f"The audio lasts {info.duration_s / 60:.0f} min; the limit is {max_seconds / 60:.0f} min."
        )
    return info


def decode(
    path: str | os.PathLike,
    *,
    sample_rate_hz: int,
    max_seconds: float,
    start_s: float = 0.0,
    limits: DecodeLimits = DecodeLimits(),
) -> np.ndarray:
    """Decode the first audio stream to mono float32 in [-1, 1], at most `max_seconds` of it.

    Raise AudioError when the file cannot be decoded or holds no audio at all.
    """
    path = Path(path).absolute()
    _check_file(path)
    max_bytes = int(max_seconds * sample_rate_hz + sample_rate_hz) * 2
    stdout, stderr, code = _run(
        ffmpeg_command(path, sample_rate_hz=sample_rate_hz, max_seconds=max_seconds, start_s=start_s),
        input_path=path,
        timeout_s=limits.timeout_s,
        limits=limits,
        max_output_bytes=max_bytes,
    )
    if not stdout:
        raise _nothing_decoded(code, stderr)
    return _to_float(stdout)


def decode_chunks(
    path: str | os.PathLike,
    *,
    sample_rate_hz: int,
    max_seconds: float,
    chunk_seconds: float = 60.0,
    limits: DecodeLimits = DecodeLimits(),
) -> Iterator[np.ndarray]:
    """Yield the decoded audio in consecutive float32 chunks, holding one chunk in memory at a time.

    For long uploads: the whole decode is bounded by `limits.timeout_s` and `max_seconds`.
    """
    path = Path(path).absolute()
    _check_file(path)
    command = sandboxed(
        ffmpeg_command(path, sample_rate_hz=sample_rate_hz, max_seconds=max_seconds), limits, input_path=path
    )
    process = _spawn(
        command,
    )
    timer = _Deadline(process, limits.timeout_s)
    chunk_bytes = int(chunk_seconds * sample_rate_hz) * 2
    produced = 0
    try:
        assert process.stdout is not None
        while True:
            data = process.stdout.read(chunk_bytes)
            if not data:
                break
            if timer.expired:  # not the samples still in the pipe (up to PIPE_BYTES) after the kill
                raise AudioError("timeout", MESSAGES["timeout"])
            produced += len(data)
            yield _to_float(data)
        stderr = process.stderr.read() if process.stderr else b""
        code = process.wait()
        if timer.expired:
            raise AudioError("timeout", MESSAGES["timeout"])
        if produced == 0:
            raise _nothing_decoded(code, stderr)
    finally:
        timer.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


class Decoding:
    """One file being decoded: what it is (`info`, known before its first sample) and its audio,
    mono float32 at the engine rate, in consecutive chunks (iterate once).

    Made by `open_decode`, from the in-process WAV reader or from one sandboxed ffmpeg call that
    describes and decodes at once. Close it, or use it as a context manager, to stop that child
    when the audio is not read to the end.
    """

    def __init__(
        self,
        info: MediaInfo,
        chunks: Iterator[np.ndarray],
        stop: Callable[[], None] | None = None,
        *,
        pid: int | None = None,
        prestarted: bool = False,
    ):
        self.info = info
        self._chunks = chunks
        self._stop = stop
        self.pid = pid  # the ffmpeg child's (its sandbox's outermost process), None when read in process
        self.prestarted = prestarted  # a child started before its file (`PrestartedDecoders`)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._chunks

    def close(self) -> None:
        """Stop the child process, if any (idempotent)."""
        if self._stop is not None:
            self._stop()

    def __enter__(self) -> Decoding:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_decode(
    path: str | os.PathLike,
    *,
    sample_rate_hz: int,
    max_seconds: float,
    max_duration_s: float | None = None,
    chunk_seconds: float = 60.0,
    limits: DecodeLimits = DecodeLimits(),
    in_process: bool = True,
) -> Decoding:
    """Start decoding a file: its description now, its audio (at most `max_seconds`) as it comes.

    A plain PCM WAV file is read in process (recognition/engine/wav.py; `in_process=False` never
    does, for callers that want the file's tags). Any other file is described and decoded by one
    ffmpeg child, with every limit `decode_chunks` has; the description is read from its stderr
    before the first sample, so a file with no audio stream, or (with `max_duration_s`) one
    that says it lasts longer, is refused at once, its child killed, as `probe_usable` refuses it.
    Raise AudioError as `probe_usable` and `decode_chunks` do (docs/decisions.md, open_decode).
    """
    path = Path(path).absolute()
    _check_file(path)
    if in_process:
        found = wav.read_wav(path, sample_rate_hz=sample_rate_hz, max_seconds=max_seconds)
        if found is not None:
            info = MediaInfo("wav", found.duration_s, 1, 0, found.sample_rate_hz, found.channels)
            if max_duration_s is not None:
                usable(info, max_seconds=max_duration_s)
            step = max(1, int(chunk_seconds * sample_rate_hz))
            chunks = [found.samples[at : at + step] for at in range(0, found.samples.size, step)]
            if not chunks:
                raise AudioError("no_audio", MESSAGES["no_decodable_audio"])
            return Decoding(info, iter(chunks))
    return _ffmpeg_decoding(
        path,
        sample_rate_hz=sample_rate_hz,
        max_seconds=max_seconds,
        max_duration_s=max_duration_s,
        chunk_seconds=chunk_seconds,
        limits=limits,
    )


def decode_described(
    path: str | os.PathLike,
    *,
    sample_rate_hz: int,
    max_seconds: float,
    max_duration_s: float | None = None,
    limits: DecodeLimits = DecodeLimits(),
    in_process: bool = True,
) -> tuple[MediaInfo, np.ndarray]:
    """Return a file's description and its audio (at most `max_seconds`) from one decode: what
    `probe_usable` then `decode` give, without the second child (see `open_decode`)."""
    with open_decode(
        path,
        sample_rate_hz=sample_rate_hz,
        max_seconds=max_seconds,
        max_duration_s=max_duration_s,
        chunk_seconds=max_seconds + 1,
        limits=limits,
        in_process=in_process,
    ) as decoding:
        parts = list(decoding)
    return decoding.info, parts[0] if len(parts) == 1 else np.concatenate(parts)


def _ffmpeg_decoding(
    path: Path,
    *,
    sample_rate_hz: int,
    max_seconds: float,
    max_duration_s: float | None,
    chunk_seconds: float,
    limits: DecodeLimits,
) -> Decoding:
    """`open_decode` through one sandboxed ffmpeg that prints its description and decodes: a
    pre-started child when one of this kind is ready (`PrestartedDecoders`), else one started now."""
    kind = _Kind.of(path, sample_rate_hz=sample_rate_hz, max_seconds=max_seconds, limits=limits)
    child = PRESTARTED.take(kind) if kind is not None else None
    if child is not None and not child.feed(path):
        child.discard()
        child = None
    if child is not None:
        process = child.process
    else:
        command = ffmpeg_command(path, sample_rate_hz=sample_rate_hz, max_seconds=max_seconds, describe=True)
        process = _spawn(
            sandboxed(command, limits, input_path=path),
        )
    timer = _Deadline(process, limits.timeout_s)
    assert process.stderr is not None
    stderr = _StderrReader(process.stderr)
    stopped = threading.Event()

    def stop() -> None:
        timer.cancel()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stderr.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
        if not stopped.is_set():
            stopped.set()
            if child is not None:
                child.remove()
            if kind is not None:
                PRESTARTED.done(kind)

    try:
        if not stderr.described.wait(limits.probe_timeout_s) or timer.expired:
            raise AudioError("timeout", MESSAGES["timeout"])
        info = parse_description(stderr.head.decode("utf-8", "replace"))
        if info is None:
            raise AudioError("not_media", MESSAGES["not_media"])
        usable(info, max_seconds=math.inf if max_duration_s is None else max_duration_s)
    except BaseException:
        stop()
        raise
    max_bytes = int(max_seconds * sample_rate_hz + sample_rate_hz) * 2
    chunk_bytes = max(2, int(chunk_seconds * sample_rate_hz) * 2)
    return Decoding(
        info,
        _ffmpeg_chunks(process, timer=timer, stderr=stderr, stop=stop, chunk_bytes=chunk_bytes, max_bytes=max_bytes),
        stop,
        pid=process.pid,
        prestarted=child is not None,
    )


def _ffmpeg_chunks(
    process: subprocess.Popen,
    *,
    timer: _Deadline,
    stderr: _StderrReader,
    stop: Callable[[], None],
    chunk_bytes: int,
    max_bytes: int,
) -> Iterator[np.ndarray]:
    produced = 0
    try:
        assert process.stdout is not None
        while data := process.stdout.read(chunk_bytes):
            if timer.expired:  # not the samples still in the pipe (up to PIPE_BYTES) after the kill
                raise AudioError("timeout", MESSAGES["timeout"])
            produced += len(data)
            if produced > max_bytes:  # -t makes this unreachable; kept as a hard stop
                raise AudioError("too_long", MESSAGES["too_long"])
            yield _to_float(data)
        code = process.wait()
        stderr.join(timeout=5)
        if timer.expired:
            raise AudioError("timeout", MESSAGES["timeout"])
        if produced == 0:
            raise _nothing_decoded(code, stderr.tail)
    finally:
        stop()


class _StderrReader(threading.Thread):
    """Drain a child's stderr on a thread: keep its first `_MAX_DESCRIPTION_BYTES` (the description
    and whatever tags it prints) and its last few kB (why a decode failed), and set `described`
    once the description (`Input #0 …` and its indented lines) is whole, or stderr ended.

    Draining to the end matters: a child that fills the stderr pipe would stop decoding.
    """

    def __init__(self, stream: IO[bytes]):
        super().__init__(daemon=True)
        self.head = bytearray()
        self.tail = b""
        self.described = threading.Event()
        self._stream = stream
        self._scanned = 0  # bytes of `head` already looked at, whole lines only
        self._in_input = False
        self.start()

    def run(self) -> None:
        try:
            while chunk := self._stream.read1(1 << 16):  # type: ignore[attr-defined]
                if len(self.head) < _MAX_DESCRIPTION_BYTES:
                    self.head += chunk[: _MAX_DESCRIPTION_BYTES - len(self.head)]
                    if not self.described.is_set():
                        self._scan()
                elif not self.described.is_set():
                    self.described.set()  # a description this long is read as far as it goes
                self.tail = (self.tail + chunk)[-_TAIL_BYTES:]
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the child was stopped
        finally:
            self.described.set()

    def _scan(self) -> None:
        while (end := self.head.find(b"\n", self._scanned)) >= 0:
            line = bytes(self.head[self._scanned : end])
            self._scanned = end + 1
            if not self._in_input:
                self._in_input = line.startswith(b"Input #0, ")
            elif not line.startswith(b"  "):
                self.described.set()
                return


_TAIL_BYTES = 4096


class _Deadline:
    """Kill a child process group when it runs past its wall-clock budget."""

    def __init__(self, process: subprocess.Popen, timeout_s: float):
        import threading

        self.expired = False
        self._process = process
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        if self._process.poll() is None:
            self.expired = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)

    def cancel(self) -> None:
        self._timer.cancel()


# Pre-started decoders (issue 39). Starting a sandboxed ffmpeg (prlimit, bwrap's namespaces,
# ffmpeg loading ~200 shared libraries) costs more than decoding a 5 s clip, so a child of each
# kind in use is started before its file arrives and waits, its whole start paid, for its gate:
# ffmpeg reads `-filter_complex_script` (from its stdin here) while it parses its global options,
# after it has loaded, before it opens any input. The gate is a filter graph with no input and no
# output, which ffmpeg never runs; the rest of the command line is the cold path's, and the input
# is a real file (a hard link in the child's own folder), so seeking, durations and MP4s whose
# `moov` follows their `mdat` behave as they do there. One child, one file: each has a private
# empty folder, the only one its sandbox sees, which only ever receives its own input; the child
# exits with its decode and is never handed a second file (docs/decisions.md, Pre-started decoders).
_GATE = b"anullsrc=d=0,anullsink"
_GATE_OPTION = ["-filter_complex_script", "pipe:0"]
# A file that cannot be hard-linked into a child's folder (another filesystem, another owner) is
# copied there up to this size; a larger one takes the cold path.
_COPY_LIMIT_BYTES = 64 << 20
# An extension ffmpeg would see (the text after the path's last dot), which helps it guess a format:
# a child's input keeps it. A path whose extension is anything else takes the cold path.
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}")


@dataclass(frozen=True)
class _Kind:
    """What a child's command line holds before its file: all but the file's name, and its extension."""

    suffix: str
    sample_rate_hz: int
    max_seconds: float
    limits: DecodeLimits
    mode: str

    @classmethod
    def of(cls, path: Path, *, sample_rate_hz: int, max_seconds: float, limits: DecodeLimits) -> _Kind | None:
        name = os.fspath(path)
        dot = name.rfind(".")
        suffix = "" if dot < 0 or "/" in name[dot:] else name[dot:]
        if suffix and not _EXTENSION.fullmatch(suffix):
            return None
        # ffmpeg matches extensions without regard to case (av_match_ext).
        return cls(suffix.lower(), sample_rate_hz, max_seconds, limits, sandbox_mode())


class _Child:
    """One sandboxed ffmpeg started before its file, blocked reading its gate; used for one file."""

    def __init__(self, kind: _Kind):
        self.kind = kind
        self.folder = Path(tempfile.mkdtemp(prefix="earshot-decode-"))
        self.input = self.folder / f"input{kind.suffix}"
        command = ffmpeg_command(
            self.input, sample_rate_hz=kind.sample_rate_hz, max_seconds=kind.max_seconds, describe=True
        )
        try:
            self.process = _spawn(
                sandboxed(
                    [command[0], *_GATE_OPTION, *command[1:]], kind.limits, input_path=self.folder, mode=kind.mode
                ),
                stdin=subprocess.PIPE,
            )
        except BaseException:
            self.remove()
            raise

    def feed(self, path: Path) -> bool:
        """Give the child its file and open its gate; False when it cannot take it (then discard it)."""
        try:
            os.link(path, self.input)
        except OSError:
            try:
                if path.stat().st_size > _COPY_LIMIT_BYTES:
                    return False
                shutil.copyfile(path, self.input)
            except OSError:
                return False
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(_GATE)
            self.process.stdin.close()
        except (OSError, ValueError):  # the child died waiting
            return False
        return True

    def discard(self) -> None:
        """Stop the child, used or not, and remove its folder."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream:
                with contextlib.suppress(OSError):
                    stream.close()
        self.remove()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PrestartedDecoders:
    """The sandboxed ffmpeg children this process keeps started before their files.

    A kind (rate, cap, limits, sandbox mode and the file's extension: what the command line holds)
    is kept warm once this process has decoded two files of it, so that a one-off command starts
    nothing it will not use: `EARSHOT_DECODE_PRESTART` children of it (default 2, 0 for none), for
    the `kinds` most recently used kinds. A child taken is replaced by a thread of this class, the
    one that starts them all: bubblewrap's `--die-with-parent` ties a child to the thread that
    started it. A child whose parent dies reads the end of its gate, finds no input and exits.
    """

    def __init__(self, kinds: int = 3):
        self._kinds = kinds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._ready: OrderedDict[_Kind, deque[_Child]] = OrderedDict()
        self._uses: dict[_Kind, int] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.taken = 0  # children handed out, each for one file

    @staticmethod
    def per_kind() -> int:
        """How many children of each kind in use to keep ready (EARSHOT_DECODE_PRESTART, default 2)."""
        value = os.environ.get("EARSHOT_DECODE_PRESTART", "2")
        try:
            return max(0, int(value))
        except ValueError:
            raise RuntimeError(f"EARSHOT_DECODE_PRESTART must be a whole number, not {value!r}") from None

    def idle(self) -> int:
        """How many children are ready now."""
        with self._lock:
            return sum(len(children) for children in self._ready.values())

    def take(self, kind: _Kind) -> _Child | None:
        """A ready child of `kind`, the oldest (the likeliest to have finished starting), or None."""
        dead = []
        try:
            with self._lock:
                children = self._ready.get(kind)
                while children:
                    child = children.popleft()
                    if child.process.poll() is None:
                        self._ready.move_to_end(kind)
                        self._wake.notify()
                        self.taken += 1
                        return child
                    dead.append(child)
                return None
        finally:
            for child in dead:
                child.discard()

    def done(self, kind: _Kind) -> None:
        """A file of `kind` was decoded: from the second, keep children of that kind ready."""
        if self.per_kind() == 0:
            return
        evicted: list[_Child] = []
        with self._lock:
            if self._closed:
                return
            if len(self._uses) > 64:  # kinds seen once, long ago
                self._uses = dict.fromkeys(self._ready, 2)
            self._uses[kind] = uses = self._uses.get(kind, 0) + 1
            if uses < 2:
                return
            self._ready.setdefault(kind, deque())
            self._ready.move_to_end(kind)
            while len(self._ready) > self._kinds:
                _, children = self._ready.popitem(last=False)
                evicted.extend(children)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._refill, name="earshot-decoders", daemon=True)
                self._thread.start()
            self._wake.notify()
        for child in evicted:
            child.discard()

    def clear(self) -> None:
        """Stop every ready child and forget the kinds in use (they are kept warm again from their
        second file)."""
        with self._lock:
            children = [child for kind in self._ready.values() for child in kind]
            self._ready.clear()
            self._uses.clear()
        for child in children:
            child.discard()

    def close(self) -> None:
        """Stop every ready child and start no other (at exit)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self.clear()

    def _missing(self) -> _Kind | None:
        per_kind = self.per_kind()
        for kind in reversed(self._ready):  # the most recently used first
            if len(self._ready[kind]) < per_kind:
                return kind
        return None

    def _refill(self) -> None:
        while True:
            with self._lock:
                kind = self._missing()
                while not self._closed and kind is None:
                    self._wake.wait()
                    kind = self._missing()
                if self._closed or kind is None:
                    return
            try:
                child = _Child(kind)
            except Exception as error:  # no sandbox here, no ffmpeg, no temporary folder: the cold path
                logger.warning("decoders: cannot pre-start ffmpeg: %s", error)
                with self._lock:
                    self._ready.pop(kind, None)
                    self._uses.pop(kind, None)
                continue
            with self._lock:
                children = self._ready.get(kind)
                kept = children is not None and not self._closed and len(children) < self.per_kind()
                if children is not None and kept:
                    children.append(child)
            if not kept:
                child.discard()

    def _after_fork(self) -> None:
        """In a forked process: the children are the parent's. Close this copy of their pipes (so
        that they still see their gate end when the parent dies) and start afresh."""
        for children in self._ready.values():
            for child in children:
                for stream in (child.process.stdin, child.process.stdout, child.process.stderr):
                    if stream:
                        with contextlib.suppress(OSError):
                            stream.close()
        self.__init__(self._kinds)  # type: ignore[misc]


PRESTARTED = PrestartedDecoders()
atexit.register(PRESTARTED.close)
os.register_at_fork(after_in_child=PRESTARTED._after_fork)


def _to_float(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return samples.astype(np.float32) * np.float32(1 / 32768)


def _nothing_decoded(code: int, stderr: bytes) -> AudioError:
    """Why ffmpeg produced no samples at all, in a fixed text; its stderr goes to the log only."""
    if code == 0:
        return AudioError("no_audio", MESSAGES["no_decodable_audio"])
    if b"matches no streams" in stderr:  # "Stream map '0:a:0' matches no streams."
        return AudioError("no_audio", MESSAGES["no_audio"])
    logger.info("ffmpeg could not decode a file (exit %s): %s", code, _stderr_tail(stderr))
    return AudioError("decode_failed", MESSAGES["decode_failed"])


def _stderr_tail(stderr: bytes) -> str:
    """The last line of ffmpeg's stderr, printable and short: for the operator's log, never a user."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return (lines[-1][:200] if lines else "no message").encode("ascii", "backslashreplace").decode()
