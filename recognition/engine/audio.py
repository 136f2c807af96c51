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
No Django import: the engine, the benchmark and the fuzzers use it directly.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "MESSAGES",
    "SANDBOX_ENV",
    "AudioError",
    "DecodeLimits",
    "MediaInfo",
    "decode",
    "decode_chunks",
    "encode_opus",
    "excerpt_mp3",
    "ffmpeg_command",
    "parse_description",
    "probe",
    "probe_command",
    "probe_usable",
    "sandbox_mode",
    "sandboxed",
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


def sandboxed(command: list[str], limits: DecodeLimits, *, input_path: str | os.PathLike | None = None) -> list[str]:
    """Return the command run under CPU, address-space and file-size limits (no files written),
    isolated by `sandbox_mode()`: it sees no server environment and, with bubblewrap or Landlock,
    no network and no file but `input_path`.
    """
    path = os.path.abspath(input_path) if input_path is not None else None
    isolated = [*_isolation(sandbox_mode(), path), *command]
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
    path: str | os.PathLike, *, sample_rate_hz: int, max_seconds: float, start_s: float = 0.0
) -> list[str]:
    """Return the ffmpeg argument list that decodes the first audio stream to mono s16le on stdout."""
    command = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel", "error",
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


def _run(
    command: list[str], *, input_path: Path, timeout_s: float, limits: DecodeLimits, max_output_bytes: int
) -> tuple[bytes, bytes, int]:
    """Run a sandboxed child; kill its whole process group on timeout. Return (stdout, stderr, code)."""
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        sandboxed(command, limits, input_path=input_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=SANDBOX_ENV,
        start_new_session=True,
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
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        sandboxed(probe_command(path), limits, input_path=path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=SANDBOX_ENV,
        start_new_session=True,
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
    info = probe(path, limits=limits)
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
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=SANDBOX_ENV,
        start_new_session=True,
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


def _to_float(pcm: bytes) -> np.ndarray:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return samples.astype(np.float32) * np.float32(1 / 32768)


def _nothing_decoded(code: int, stderr: bytes) -> AudioError:
    """Why ffmpeg produced no samples at all, in a fixed text; its stderr goes to the log only."""
    if code == 0:
        return AudioError("no_audio", MESSAGES["no_decodable_audio"])
    if b"Stream map" in stderr or b"matches no streams" in stderr:
        return AudioError("no_audio", MESSAGES["no_audio"])
    logger.info("ffmpeg could not decode a file (exit %s): %s", code, _stderr_tail(stderr))
    return AudioError("decode_failed", MESSAGES["decode_failed"])


def _stderr_tail(stderr: bytes) -> str:
    """The last line of ffmpeg's stderr, printable and short: for the operator's log, never a user."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return (lines[-1][:200] if lines else "no message").encode("ascii", "backslashreplace").decode()
