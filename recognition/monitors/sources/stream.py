"""StreamSource: one connection to a live stream, fed by a thread into a sandboxed ffmpeg."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from portal import outbound
from recognition.engine.audio import ALLOWED_DECODERS, SANDBOX_ENV, DecodeLimits, sandboxed
from recognition.monitors.sources.errors import SourceError
from recognition.monitors.sources.hls import (
    PLAYLIST_TYPES,
    PLS_TYPES,
    id3_size,
    media_playlist,
    station_url,
    variant_url,
)

__all__ = ["STREAM_DEMUXERS", "SourceLimits", "StreamSource", "stream_command"]

# Audio containers a stream arrives in; anything else (playlists, concat, devices, raw PCM) refused.
STREAM_DEMUXERS = "aac,mp3,mpegts,ogg"
_FORMAT_BY_TYPE = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/aac": "aac", "audio/aacp": "aac", "audio/x-aac": "aac",
    "audio/ogg": "ogg", "application/ogg": "ogg", "audio/opus": "ogg", "audio/vorbis": "ogg", "video/mp2t": "mpegts",
}  # fmt: skip
_NOT_AUDIO_PREFIXES = ("text/", "application/json", "application/xml", "application/xhtml", "image/")
_CHUNK_BYTES = 16384
_MAX_NEW_SEGMENTS = 5
_MAX_MISSING_SEGMENTS = 3


@dataclass(frozen=True)
class SourceLimits:
    """Budgets of one connection to a stream."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0  # no byte from the server for this long: `timeout`, reconnect
    no_audio_s: float = 20.0  # bytes arrive but ffmpeg decodes nothing for this long: `no_audio`
    max_playlist_bytes: int = 256 * 1024  # a live HLS playlist is a few KiB
    max_segment_bytes: int = 8 << 20  # 6 s of 1080p video with its audio fits
    segment_deadline_s: float = 30.0
    # A stream decodes at ~1 % of a core; an hour of CPU ends only a hostile one (it then reconnects).
    decode: DecodeLimits = field(default_factory=lambda: DecodeLimits(cpu_s=3600, memory_bytes=512 << 20))

    def outbound(self, *, deadline_s: float, max_body_bytes: int = 1 << 20) -> outbound.OutboundLimits:
        return outbound.OutboundLimits(
            connect_timeout_s=self.connect_timeout_s, read_timeout_s=self.read_timeout_s, deadline_s=deadline_s,
            max_body_bytes=max_body_bytes,
        )  # fmt: skip


def stream_command(input_format: str | None, *, sample_rate_hz: int) -> list[str]:
    """Return the ffmpeg argument list that decodes stdin to mono s16le on stdout (without limits).

    Only the pipe, only plain audio containers (docs/decisions.md, stream_command).
    """
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "fatal", "-threads", "1",
        "-protocol_whitelist", "pipe", "-format_whitelist", STREAM_DEMUXERS, "-codec_whitelist", ALLOWED_DECODERS,
        # Start decoding after 64 KiB / 1 s instead of ffmpeg's 5 MB / 5 s: a live stream arrives in real time.
        "-probesize", "65536", "-analyzeduration", "1000000",
    ]  # fmt: skip
    if input_format:
        command += ["-f", input_format]
    command += [
        "-i", "pipe:0", "-map", "0:a:0", "-vn", "-sn", "-dn",
        # 200 ms blocks written as made: latency counts here (docs/decisions.md, asetnsamples).
        "-af", f"aresample={sample_rate_hz},asetnsamples=n={sample_rate_hz // 5}:p=0",
        "-ac", "1", "-ar", str(sample_rate_hz), "-f", "s16le", "-acodec", "pcm_s16le", "-flush_packets", "1", "pipe:1",
    ]  # fmt: skip
    return command


def _sniff(head: bytes) -> str | None:
    """Guess the container from the first bytes (servers often say application/octet-stream)."""
    if head.startswith(b"OggS"):
        return "ogg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS: sync, layer 0
        return "aac"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _check_answer(response: outbound.Response) -> None:
    status, kind = response.status, response.content_type
    if status in {404, 410}:
        raise SourceError(
            "not_found", f"The server says there is no stream at this URL (HTTP {status}).", permanent=True
        )
    if status == 429 or status in {502, 503, 504}:
        raise SourceError("http_error", f"The server is unavailable for now (HTTP {status}).")
    if not 200 <= status < 300:
        raise SourceError("http_error", f"The server answered HTTP {status} instead of a stream.", permanent=True)
    if kind.startswith(_NOT_AUDIO_PREFIXES) and kind not in PLAYLIST_TYPES and kind != "text/plain":
        raise SourceError("not_audio", f"The URL serves {kind}, not an audio stream.", permanent=True)


class StreamSource:
    """One connection to a live stream, decoded to int16 mono at `sample_rate_hz`.

    Construction returns at once; connecting happens in the feeder thread and its failures come out
    of `read()`. `close()` may be called from any thread and ends a blocked `read()` at once.
    """

    def __init__(
        self, url: str, *, allow_private: bool, sample_rate_hz: int = 8000, limits: SourceLimits = SourceLimits()
    ):
        self.url = url
        self.sample_rate_hz = sample_rate_hz
        self.bytes_received = 0
        self._allow_private = allow_private
        self._limits = limits
        self._lock = threading.Lock()
        self._read_lock = threading.RLock()  # close() from inside read() too
        self._closed = threading.Event()
        self._closing = False  # close() was called: whatever breaks from now on breaks because of it
        self._started = threading.Event()  # ffmpeg running, or the feeder gave up before
        self._process: subprocess.Popen | None = None
        self._response: outbound.Response | None = None
        self._error: SourceError | None = None
        self._odd = b""
        self._audio_at = 0.0
        self._created_at = time.monotonic()
        self._fed_s = 0.0  # HLS: seconds of segments fed to ffmpeg, by their EXTINF
        self._hints: list[tuple[float | None, float]] = []
        self._feeder = threading.Thread(target=self._feed, name="stream-source-feeder", daemon=True)
        self._feeder.start()

    # -- the reading side (the runner's thread) ----------------------------------------------------

    def read(self, max_samples: int, *, timeout_s: float | None = None) -> np.ndarray:
        """Return up to `max_samples` new samples, waiting at most the read timeout (maybe none).

        Raise SourceError when the stream failed, ended, decoded nothing for `no_audio_s`, or was closed.
        """
        wait_s = self._limits.read_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        with self._read_lock:
            while True:
                if self._closed.is_set():
                    raise self._error if self._error else SourceError("closed", "The source was closed.")
                remaining = deadline - time.monotonic()
                process = self._process
                if process is None:
                    if self._started.wait(min(max(remaining, 0), 0.25)):
                        continue
                    if self.bytes_received and time.monotonic() - self._created_at > self._limits.no_audio_s:
                        self._fail(SourceError("no_audio", "The stream sends bytes but no audio came of them."))
                        self.close()
                        continue
                else:
                    pcm = self._pcm(process, max_samples, min(max(remaining, 0), 0.25))
                    if pcm is not None:
                        return pcm
                    if time.monotonic() - self._audio_at > self._limits.no_audio_s:
                        self._fail(SourceError("no_audio", "The stream sends bytes but no audio could be decoded."))
                        self._kill()
                if time.monotonic() >= deadline:
                    return np.zeros(0, dtype=np.int16)

    def _pcm(self, process: subprocess.Popen, max_samples: int, wait_s: float) -> np.ndarray | None:
        assert process.stdout is not None
        poller = select.poll()
        poller.register(process.stdout.fileno(), select.POLLIN)
        if not poller.poll(wait_s * 1000):
            return None
        data = os.read(process.stdout.fileno(), max(2, max_samples * 2 - len(self._odd)))
        if not data:  # ffmpeg ended: the feeder says why, else the stream ended
            process.wait()
            error = self._error or (
                SourceError("closed", "The source was closed.")
                if self._closed.is_set()
                else SourceError("ended", "The stream ended.")
            )
            self.close()
            raise error
        data, self._odd = self._odd + data, b""
        if len(data) % 2:
            data, self._odd = data[:-1], data[-1:]
        self._audio_at = time.monotonic()
        return np.frombuffer(data, dtype="<i2").copy()

    def clock_hints(self) -> list[tuple[float | None, float]]:
        """Return (and forget) what the source learnt of when its first sample was on air.

        Each is (earliest, latest) in Unix seconds, earliest None when unknown. An HLS playlist
        tells it: a segment new in a reload had not been published when the previous reload went
        out and had been when this one came back; EXT-X-PROGRAM-DATE-TIME says it exactly
        (docs/decisions.md, StreamClock). Other sources have none: arrival times bound them.
        """
        with self._lock:
            hints, self._hints = self._hints, []
        return hints

    def _note_segment(self, duration_s: float, on_air_at: float | None, earliest: float | None, latest: float) -> None:
        """A segment of `duration_s` was fed, first on air at `on_air_at` if dated, else published
        after `earliest` and by `latest` (wall clock, Unix seconds)."""
        # A segment of unknown length puts every later one at an unknown place: no more hints.
        start_s, self._fed_s = self._fed_s, self._fed_s + duration_s if duration_s > 0 else math.nan
        if math.isnan(self._fed_s):
            return
        hint: tuple[float | None, float]
        if on_air_at is not None:
            hint = (on_air_at - start_s, on_air_at - start_s)
        else:
            hint = (None if earliest is None else earliest - self._fed_s, latest - self._fed_s)
        with self._lock:
            self._hints = [*self._hints[-63:], hint]

    def close(self) -> None:
        """Stop everything (ffmpeg, the connection, the feeder); safe from any thread, more than once."""
        self._closing = True
        self._closed.set()
        self._started.set()
        with self._lock:
            response = self._response
        if response is not None:
            response.close()
        self._kill()
        if self._read_lock.acquire(timeout=2):
            try:
                process = self._process
                for stream in (process.stdout, process.stdin) if process else ():
                    if stream is not None:
                        with contextlib.suppress(OSError):
                            stream.close()
            finally:
                self._read_lock.release()

    def __enter__(self) -> StreamSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _kill(self) -> None:
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def _fail(self, error: SourceError) -> None:
        with self._lock:
            if self._error is None:
                self._error = SourceError("closed", "The source was closed.") if self._closing else error
        self._started.set()

    # -- the feeding side (its own thread) ---------------------------------------------------------

    def _feed(self) -> None:
        try:
            self._feed_url()
        except SourceError as error:
            self._fail(error)
        except outbound.OutboundError as error:
            self._fail(SourceError.from_outbound(error))
        except BrokenPipeError:
            self._fail(SourceError("decode_failed", "The decoder stopped reading the stream."))
        except Exception:
            self._fail(SourceError("disconnected", "The connection to the stream was lost."))
        finally:
            if self._closed.is_set():
                self._fail(SourceError("closed", "The source was closed."))
            process = self._process
            if process is not None and process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()  # ffmpeg decodes what it has, then ends
            elif process is None:
                self._closed.set()  # nothing will ever come out: read() raises the error
            with self._lock:
                response, self._response = self._response, None
            if response is not None:
                response.close()

    def _open(self, url: str, *, deadline_s: float) -> outbound.Response:
        response = outbound.open_url(
            url, allow_private=self._allow_private, limits=self._limits.outbound(deadline_s=deadline_s)
        )
        with self._lock:
            if self._closed.is_set():
                response.close()
                raise SourceError("closed", "The source was closed.")
            self._response = response
        return response

    def _feed_url(self, url: str | None = None) -> None:
        response = self._open(url or self.url, deadline_s=self._limits.connect_timeout_s + self._limits.read_timeout_s)
        _check_answer(response)
        response.end_deadline()
        head = response.read(_CHUNK_BYTES)
        self.bytes_received += len(head)
        kind = response.content_type
        if kind in PLAYLIST_TYPES or kind in PLS_TYPES or head.lstrip().startswith((b"#EXTM3U", b"[playlist]")):
            limit = self._limits.max_playlist_bytes
            while len(head) <= limit and (more := response.read(_CHUNK_BYTES)):
                head += more
            if len(head) > limit:
                raise SourceError("too_large", f"The playlist is larger than {limit // 1024} KiB.", permanent=True)
            text = head.decode("utf-8", "replace").lstrip()
            if "#EXT-X-" in text:
                self._feed_hls(response.url, text, got=time.time())
                return
            # A radio directory's .m3u or .pls: a list of stream URLs. Follow the first, once.
            stream = station_url(text, response.url)
            if url is not None or stream is None:
                raise SourceError("bad_playlist", "The playlist lists no stream Earshot can play.", permanent=True)
            with self._lock:
                self._response = None
            response.close()
            self._feed_url(stream)
            return
        if kind == "text/plain":
            raise SourceError("not_audio", "The URL serves text/plain, not an audio stream.", permanent=True)
        self._start(_FORMAT_BY_TYPE.get(kind) or _sniff(head))
        self._write(head)
        while data := response.read(_CHUNK_BYTES):
            self.bytes_received += len(data)
            self._write(data)
        raise SourceError("ended", "The stream ended.")

    def _start(self, input_format: str | None) -> None:
        command = sandboxed(stream_command(input_format, sample_rate_hz=self.sample_rate_hz), self._limits.decode)
        with self._lock:
            if self._closed.is_set():
                raise SourceError("closed", "The source was closed.")
            self._process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
                env=SANDBOX_ENV, start_new_session=True,
            )  # fmt: skip
        self._audio_at = time.monotonic()
        self._started.set()

    def _write(self, data: bytes) -> None:
        process = self._process
        assert process is not None and process.stdin is not None
        process.stdin.write(data)

    def _fetch_playlist(self, url: str, *, reload: bool = False) -> str:
        limits = self._limits.outbound(
            deadline_s=self._limits.segment_deadline_s, max_body_bytes=self._limits.max_playlist_bytes
        )
        try:
            response = outbound.fetch(url, allow_private=self._allow_private, limits=limits)
        except outbound.OutboundError as error:
            if error.code == "too_large":
                raise SourceError("too_large", "The HLS playlist is too large.", permanent=True) from None
            raise
        try:
            _check_answer(response)
        except SourceError as error:
            if reload and error.code in {"not_found", "http_error"}:  # an origin's hiccup, not a wrong URL
                error.permanent = False
            raise
        return response.content.decode("utf-8", "replace").lstrip()

    def _variant(self, url: str, text: str) -> tuple[str, str]:
        """The media playlist a master playlist points at (its URL and text)."""
        variant = variant_url(text, url)
        if variant is None:
            raise SourceError("bad_playlist", "The HLS master playlist lists no stream.", permanent=True)
        text = self._fetch_playlist(variant)
        if "#EXT-X-STREAM-INF" in text:
            raise SourceError("bad_playlist", "The HLS playlist nests master playlists.", permanent=True)
        return variant, text

    def _feed_hls(self, url: str, text: str, *, got: float) -> None:
        if "#EXT-X-STREAM-INF" in text or "#EXT-X-MEDIA:" in text:
            url, text = self._variant(url, text)
            got = time.time()
        fed, missing = -1, 0
        sent: float | None = None  # when the request for this playlist went out (None: the first one)
        previous_sent: float | None = None
        changed_at = time.monotonic()
        while not self._closed.is_set():
            playlist = media_playlist(text, url)
            newest = playlist.segments[-1].sequence if playlist.segments else -1
            if fed < 0 or newest < fed:  # start (or a restarted stream) two segments from the live edge
                todo = playlist.segments[-2:]
                earliest = None  # these may have been published long before we asked
            else:
                # Far behind (or a playlist adding thousands at once): jump to the live edge.
                todo = [segment for segment in playlist.segments if segment.sequence > fed][-_MAX_NEW_SEGMENTS:]
                earliest = previous_sent  # absent from the reload sent then, so published after it
            for segment in todo:
                # A segment gone already (we fell behind) is a gap; several in a row, a broken stream.
                if self._feed_segment(segment.url):
                    missing = 0
                    self._note_segment(segment.duration_s, segment.on_air_at, earliest, got)
                else:
                    missing += 1
                if missing >= _MAX_MISSING_SEGMENTS:
                    raise SourceError("not_found", "The HLS stream's segments cannot be fetched (HTTP 404).")
                fed = segment.sequence
                changed_at = time.monotonic()
            if playlist.ended:
                raise SourceError("ended", "The HLS stream ended.")
            if time.monotonic() - changed_at > max(self._limits.read_timeout_s, 3 * playlist.target_s):
                raise SourceError("timeout", "The HLS playlist stopped advancing.")
            # RFC 8216 6.3.4: reload after the target duration, half of it when nothing was new.
            if self._closed.wait(playlist.target_s if todo else playlist.target_s / 2):
                return
            previous_sent, sent = sent, time.time()
            text = self._fetch_playlist(url, reload=True)
            got = time.time()

    def _feed_segment(self, url: str) -> bool:
        """Copy one segment into ffmpeg; return False when the server no longer has it (404, 410)."""
        response = self._open(url, deadline_s=self._limits.segment_deadline_s)
        try:
            if response.status in {404, 410}:
                return False
            _check_answer(response)
            size, skip = 0, -1
            while data := response.read(_CHUNK_BYTES):
                size += len(data)
                self.bytes_received += len(data)
                if size > self._limits.max_segment_bytes:
                    raise SourceError(
                        "too_large", f"An HLS segment is larger than {self._limits.max_segment_bytes >> 20} MiB.",
                        permanent=True,
                    )  # fmt: skip
                if skip < 0:  # the segment's first bytes: its ID3 tag (packed audio) is not audio
                    skip = id3_size(data)
                    if self._process is None:
                        self._start(_sniff(data[skip:]) if len(data) > skip else None)
                data, skip = data[skip:], max(0, skip - len(data))
                if data:
                    self._write(data)
            return True
        finally:
            with self._lock:
                self._response = None
            response.close()
