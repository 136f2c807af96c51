"""Loopback stream servers for the monitor tests and benchmark: paced Icecast-style HTTP, live HLS, hostile ones.

Each server is a ThreadingHTTPServer on 127.0.0.1 (port 0 unless given), started and stopped from
Python (`with StreamServer(...) as server:`), and can be stopped and started again on the same port.

* `StreamServer` plays stations like Icecast: each station is a playlist encoded once (MP3, AAC/ADTS,
  Ogg/Opus, Ogg/Vorbis) on a broadcast clock that starts with the server; a listener gets the last
  `burst_s` seconds at once (Icecast's burst-on-connect), then the stream at real-time rate. Item i
  of a station starts on air at `station.t0 + k * duration_s + offsets_s[i]` (wall clock), what
  `item_starts()` lists, so a benchmark measures detection delays from it. One process serves
  many stations cheaply: the bytes are encoded beforehand and each listener is paced by a timer.
* `HlsServer`: a live HLS stream, ~2 s MPEG-TS (or ADTS with an ID3 tag) segments made with ffmpeg,
  a sliding playlist whose media sequence advances in real time; `/master.m3u8` points to it.
* `HostileServer`: HTML, JSON, 404, 500, redirect loop, headers then nothing, random bytes, endless
  headers, giant chunks, HLS playlists pointing at `file:` or another address, or growing forever.
* `CanaryServer`: counts every connection, for "never connects there" checks.

    .venv/bin/python -m bench.streams serve MANIFEST.json   # stations of a JSON manifest, until SIGTERM
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

__all__ = ["CanaryServer", "HlsServer", "HostileServer", "Item", "Station", "StreamServer", "encode"]

# codec arguments, muxer, content type, output rate
CODECS = {
    "mp3": (["-c:a", "libmp3lame", "-b:a", "64k"], "mp3", "audio/mpeg", 22050),
    "aac": (["-c:a", "aac", "-b:a", "64k"], "adts", "audio/aac", 22050),
    # Ogg pages of 200 ms, as streaming encoders cut them (ffmpeg's file default is 1 s, a second of latency).
    "opus": (["-c:a", "libopus", "-b:a", "48k", "-page_duration", "200000"], "ogg", "audio/ogg", 48000),
    "vorbis": (["-c:a", "libvorbis", "-q:a", "2", "-page_duration", "200000"], "ogg", "audio/ogg", 22050),
}


@dataclass(frozen=True)
class Item:
    """One entry of a playlist: mono float32 samples in [-1, 1]."""

    name: str
    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def _ffmpeg(args: list[str], pcm: bytes | None = None, rate: int = 0) -> bytes:
    head = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    if pcm is not None:
        head += ["-f", "f32le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"]
        return subprocess.run([*head, *args], input=pcm, capture_output=True, check=True).stdout
    return subprocess.run([*head, *args], capture_output=True, check=True).stdout


def encode(samples: np.ndarray, sample_rate_hz: int, fmt: str) -> bytes:
    """Encode mono float32 samples to a stream of `fmt` (mp3, aac, opus, vorbis)."""
    codec, muxer, _, rate = CODECS[fmt]
    pcm = np.asarray(samples, dtype="<f4").tobytes()
    return _ffmpeg([*codec, "-ar", str(rate), "-f", muxer, "pipe:1"], pcm, sample_rate_hz)


def _ogg_pages(data: bytes, rate: int) -> tuple[bytes, list[int], list[tuple[int, float]]]:
    """Split an Ogg stream: its header pages, where audio pages begin, and (page end, seconds) marks."""
    offsets, marks, header_end, at = [], [], 0, 0
    while at + 27 <= len(data) and data[at : at + 4] == b"OggS":
        granule = struct.unpack_from("<q", data, at + 6)[0]
        count = data[at + 26]
        size = 27 + count + sum(data[at + 27 : at + 27 + count])
        if granule == 0 and not offsets:
            header_end = at + size
        else:
            offsets.append(at)
            if granule > 0:
                marks.append((at + size, granule / rate))
        at += size
    return data[:header_end], offsets, marks


def _packet_marks(data: bytes, muxer: str) -> list[tuple[int, float]]:
    """(byte offset, seconds) where each packet of an MP3 or ADTS stream begins, by ffprobe."""
    demuxer = "aac" if muxer == "adts" else muxer
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-f", demuxer, "-i", "pipe:0", "-show_entries", "packet=pts_time,pos",
         "-of", "csv=p=0"],
        input=data, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    marks = []
    for line in out.splitlines():
        seconds, _, offset = line.partition(",")
        with contextlib.suppress(ValueError):
            marks.append((int(offset), max(0.0, float(seconds))))
    return marks


class Station:
    """A playlist encoded once and played on a broadcast clock (started by the server, or given)."""

    def __init__(self, items: Sequence[Item], *, fmt: str = "mp3", loop: bool = False, data: bytes | None = None):
        rate = items[0].sample_rate_hz
        assert all(item.sample_rate_hz == rate for item in items), "a station's items share one rate"
        self.items = list(items)
        self.fmt = fmt
        self.loop = loop
        self.content_type = CODECS[fmt][2]
        self.duration_s = sum(item.duration_s for item in items)
        self.offsets_s = list(np.cumsum([0.0] + [item.duration_s for item in items[:-1]]))
        self.data = data if data is not None else encode(np.concatenate([i.samples for i in items]), rate, fmt)
        if CODECS[fmt][1] == "ogg":
            self.header, self.page_offsets, marks = _ogg_pages(self.data, CODECS[fmt][3])
        else:
            self.header, self.page_offsets, marks = b"", [], _packet_marks(self.data, CODECS[fmt][1])
        # Bytes on air against seconds, packet by packet (or page by page): encoders spend few
        # bytes on silence, so a constant byte rate would play quiet passages seconds early.
        marks = [(0, 0.0), *marks, (len(self.data), self.duration_s)]
        self._mark_bytes = np.array([b for b, _ in marks], dtype=np.float64)
        self._mark_s = np.maximum.accumulate(np.array([t for _, t in marks], dtype=np.float64))
        self.byte_rate = len(self.data) / self.duration_s
        self.t0: float | None = None

    def copy(self, *, t0: float | None = None) -> Station:
        """The same encoded bytes on another clock (cheap: many stations from one encoding)."""
        station = copy.copy(self)
        station.t0 = t0
        return station

    def position(self, now: float) -> int:
        """Bytes on air at wall-clock `now` since the broadcast began (beyond one pass when looping)."""
        assert self.t0 is not None
        elapsed = max(0.0, now - self.t0)
        if not self.loop and elapsed >= self.duration_s:
            return len(self.data)
        passes, within = divmod(elapsed, self.duration_s)
        return int(passes) * len(self.data) + int(np.interp(within, self._mark_s, self._mark_bytes))

    def slice(self, start: int, end: int) -> bytes:
        if not self.loop:
            return self.data[start:end]
        size, out = len(self.data), []
        while start < end:
            at = start % size
            piece = self.data[at : at + (end - start)]
            out.append(piece)
            start += len(piece)
        return b"".join(out)

    def first_byte(self, position: int) -> int:
        """Where a listener joining at `position` starts: an Ogg page boundary, else anywhere."""
        if not self.page_offsets:
            return position
        size = len(self.data)
        base, at = divmod(position, size)
        offsets = [o for o in self.page_offsets if o <= at] or [self.page_offsets[0]]
        return base * size + offsets[-1]

    def item_starts(self, until: float | None = None) -> list[tuple[int, str, float]]:
        """(index, name, wall-clock start on air) of every item started by `until` (default: now)."""
        if self.t0 is None:
            return []
        until = time.time() if until is None else until
        starts, passes = [], 0
        while True:
            for index, offset in enumerate(self.offsets_s):
                at = self.t0 + passes * self.duration_s + offset
                if at > until:
                    return starts
                starts.append((index, self.items[index].name, at))
            passes += 1
            if not self.loop:
                return starts


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self.server.owner._hit(self)  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            self.server.owner.handle(self)  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


class _LoopbackServer:
    """A restartable ThreadingHTTPServer whose `stop()` also drops the open connections."""

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1"):
        self.host, self.port = host, port
        self.hits: Counter[str] = Counter()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> _LoopbackServer:
        owner = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False
            request_queue_size = 256  # socketserver's 5 drops SYNs when 50 monitors connect at once

            def get_request(self):  # type: ignore[no-untyped-def]
                conn, address = super().get_request()
                with owner._lock:
                    owner._sockets.add(conn)
                return conn, address

        self._stopping.clear()
        self._server = Server((self.host, self.port), _Handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for conn in sockets:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _hit(self, handler: _Handler) -> None:
        with self._lock:
            self.hits[handler.path.split("?")[0]] += 1

    def handle(self, handler: _Handler) -> None:
        raise NotImplementedError

    def _headers(self, handler: _Handler, status: int, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()


class StreamServer(_LoopbackServer):
    """Icecast-style stations at `/<name>`: burst on connect, then paced at real time by a timer."""

    def __init__(
        self, stations: dict[str, Station] | Station, *, burst_s: float = 2.0, tick_s: float = 0.1, port: int = 0,
        host: str = "127.0.0.1",
    ):  # fmt: skip
        super().__init__(port=port, host=host)
        self.stations = stations if isinstance(stations, dict) else {"stream": stations}
        self.burst_s = burst_s
        self.tick_s = tick_s

    def start(self) -> StreamServer:
        now = time.time()
        for station in self.stations.values():
            if station.t0 is None:
                station.t0 = now  # a restart keeps the clock: the broadcast went on without us
        super().start()
        return self

    def station_url(self, name: str = "stream") -> str:
        return self.url(f"/{name}")

    def handle(self, handler: _Handler) -> None:
        station = self.stations.get(handler.path.strip("/").split("?")[0])
        if station is None:
            self._headers(handler, 404, {"Content-Type": "text/plain"})
            return
        self._headers(handler, 200, {
            "Content-Type": station.content_type, "icy-name": "Earshot test station", "icy-pub": "0",
            "icy-br": "64", "Cache-Control": "no-cache",
        })  # fmt: skip
        sent = station.first_byte(station.position(time.time() - self.burst_s))
        if station.header:
            handler.wfile.write(station.header)
        while not self._stopping.is_set():
            live = station.position(time.time())
            if live > sent:
                handler.wfile.write(station.slice(sent, live))
                handler.wfile.flush()
                sent = live
            elif not station.loop and sent >= len(station.data):
                return
            self._stopping.wait(self.tick_s)


def _id3_tag() -> bytes:
    """A small ID3v2.4 tag like those that open packed-audio HLS segments (a PRIV timestamp frame)."""
    frame_body = b"com.apple.streaming.transportStreamTimestamp\x00" + struct.pack(">Q", 0)
    frame = b"PRIV" + bytes([0, 0, 0, len(frame_body)]) + b"\x00\x00" + frame_body
    return b"ID3\x04\x00\x00" + bytes([0, 0, 0, len(frame)]) + frame


class HlsServer(_LoopbackServer):
    """A live HLS stream: `/live.m3u8` (sliding window), `/master.m3u8`, segments `/seg/<sequence>.ts|.aac`."""

    def __init__(
        self, items: Sequence[Item], *, segment_s: float = 2.0, window: int = 6, fmt: str = "mpegts",
        loop: bool = True, preroll_s: float | None = None, port: int = 0, dated: bool = False,
    ):  # fmt: skip
        super().__init__(port=port)
        self.dated = dated  # EXT-X-PROGRAM-DATE-TIME before every segment: when its first sample was on air
        self.items = list(items)
        self.loop = loop
        self.window = window
        self.ext = "ts" if fmt == "mpegts" else "aac"
        rate = items[0].sample_rate_hz
        self.duration_s = sum(item.duration_s for item in items)
        self.offsets_s = list(np.cumsum([0.0] + [item.duration_s for item in items[:-1]]))
        self.segments, self.ends_s = self._cut(np.concatenate([i.samples for i in items]), rate, segment_s, fmt)
        # RFC 8216: every EXTINF, rounded to the nearest second, is at most the target duration.
        self.target_s = max(1, round(max(b - a for a, b in zip([0.0, *self.ends_s], self.ends_s, strict=False))))
        self.preroll_s = 2 * segment_s if preroll_s is None else preroll_s
        self.t0: float | None = None

    @staticmethod
    def _cut(samples: np.ndarray, rate: int, segment_s: float, fmt: str) -> tuple[list[bytes], list[float]]:
        with tempfile.TemporaryDirectory() as folder:
            ext = "ts" if fmt == "mpegts" else "aac"
            _ffmpeg(
                ["-c:a", "aac", "-b:a", "64k", "-ar", "22050", "-f", "segment", "-segment_time", str(segment_s),
                 "-segment_format", "mpegts" if fmt == "mpegts" else "adts", "-segment_list",
                 f"{folder}/list.csv", "-segment_list_type", "csv", f"{folder}/seg%05d.{ext}"],
                np.asarray(samples, dtype="<f4").tobytes(), rate,
            )  # fmt: skip
            rows = [line.split(",") for line in Path(folder, "list.csv").read_text().splitlines() if line]
            tag = _id3_tag() if fmt != "mpegts" else b""
            return [tag + Path(folder, row[0]).read_bytes() for row in rows], [float(row[2]) for row in rows]

    def start(self) -> HlsServer:
        if self.t0 is None:
            self.t0 = time.time() - self.preroll_s
        super().start()
        return self

    def item_starts(self, until: float | None = None) -> list[tuple[int, str, float]]:
        """(index, name, wall-clock start on air) of every item started by `until` (default: now)."""
        assert self.t0 is not None
        until = time.time() if until is None else until
        starts, passes = [], 0
        while self.loop or passes == 0:
            for index, offset in enumerate(self.offsets_s):
                at = self.t0 + passes * self.duration_s + offset
                if at > until:
                    return starts
                starts.append((index, self.items[index].name, at))
            passes += 1
        return starts

    def published(self, now: float) -> int:
        """How many segments (counting every pass of a loop) are complete on air at `now`."""
        assert self.t0 is not None
        elapsed = now - self.t0
        passes, within = divmod(elapsed, self.duration_s) if self.loop else (0, elapsed)
        done = sum(1 for end in self.ends_s if end <= within)
        return int(passes) * len(self.segments) + done

    def playlist(self, now: float) -> str:
        count = self.published(now)
        first = max(0, count - self.window)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{self.target_s}",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}"]  # fmt: skip
        for sequence in range(first, count):
            index = sequence % len(self.segments)
            if index == 0 and sequence > 0:
                lines.append("#EXT-X-DISCONTINUITY")
            start = self.ends_s[index - 1] if index else 0.0
            if self.dated:
                on_air = self.t0 + sequence // len(self.segments) * self.duration_s + start
                stamp = datetime.fromtimestamp(on_air, UTC).isoformat(timespec="milliseconds")
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
            lines += [f"#EXTINF:{self.ends_s[index] - start:.3f},", f"/seg/{sequence}.{self.ext}"]
        if not self.loop and count == len(self.segments):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def handle(self, handler: _Handler) -> None:
        path = handler.path.split("?")[0]
        mpegurl = "application/vnd.apple.mpegurl"
        if path == "/live.m3u8":
            body = self.playlist(time.time()).encode()
        elif path == "/master.m3u8":
            body = (
                b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.4d401f,mp4a.40.2"\n/video.m3u8\n'
                b'#EXT-X-STREAM-INF:BANDWIDTH=70000,CODECS="mp4a.40.2"\n/live.m3u8\n'
            )
        elif path.startswith("/seg/") and path.rsplit("/", 1)[1].split(".")[0].isdigit():
            sequence = int(path.rsplit("/", 1)[1].split(".")[0])
            if sequence >= self.published(time.time()):
                self._headers(handler, 404, {"Content-Type": "text/plain"})
                return
            body = self.segments[sequence % len(self.segments)]
            kind = "video/mp2t" if self.ext == "ts" else "audio/aac"
            self._headers(handler, 200, {"Content-Type": kind, "Content-Length": str(len(body))})
            handler.wfile.write(body)
            return
        else:
            self._headers(handler, 404, {"Content-Type": "text/plain"})
            return
        self._headers(handler, 200, {"Content-Type": mpegurl, "Content-Length": str(len(body))})
        handler.wfile.write(body)


class HostileServer(_LoopbackServer):
    """Sources that must be refused or dropped; `url(path)` for each path of `PATHS`."""

    PATHS = (
        "/html", "/json", "/404", "/500", "/loop", "/silent", "/random", "/endless-headers", "/long-header",
        "/giant-chunk", "/giant-chunk-line", "/hls-file.m3u8", "/hls-elsewhere.m3u8", "/hls-growing.m3u8",
        "/hls-endless.m3u8", "/hls-missing.m3u8",
    )  # fmt: skip

    def __init__(self, *, elsewhere: str = "http://10.0.0.1/segment.ts", port: int = 0, host: str = "127.0.0.1"):
        super().__init__(port=port, host=host)
        self.elsewhere = elsewhere  # where /hls-elsewhere.m3u8 sends its segment
        self._growth = 0
        self._segment: bytes | None = None

    def handle(self, handler: _Handler) -> None:
        path, write = handler.path.split("?")[0], handler.wfile.write
        mpegurl = {"Content-Type": "application/vnd.apple.mpegurl"}
        if path == "/html":
            self._headers(handler, 200, {"Content-Type": "text/html; charset=utf-8"})
            write(b"<!doctype html><html><body><h1>Listen live!</h1></body></html>")
        elif path == "/json":
            self._headers(handler, 200, {"Content-Type": "application/json"})
            write(b'{"now_playing": "nothing"}')
        elif path in {"/404", "/500"}:
            self._headers(handler, int(path[1:]), {"Content-Type": "text/plain"})
            write(b"no")
        elif path in {"/loop", "/loop-b"}:
            self._headers(handler, 302, {"Location": "/loop-b" if path == "/loop" else "/loop"})
        elif path == "/silent":
            self._headers(handler, 200, {"Content-Type": "audio/mpeg", "icy-name": "nothing"})
            self._stopping.wait()
        elif path == "/random":
            self._headers(handler, 200, {"Content-Type": "audio/mpeg"})
            while not self._stopping.wait(0.1):
                write(os.urandom(1600))  # 16 KB/s: a 128 kbit/s stream of noise bytes
        elif path == "/endless-headers":
            handler.send_response(200)
            for n in range(10**9):
                handler.send_header(f"X-Endless-{n}", "x" * 64)
                if n % 100 == 0:
                    handler.flush_headers()
                    if self._stopping.is_set():
                        return
        elif path == "/long-header":
            handler.send_response(200)
            handler.flush_headers()
            write(b"X-Long: ")
            while not self._stopping.is_set():
                write(b"y" * 65536)
        elif path in {"/giant-chunk", "/giant-chunk-line"}:
            write(b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nTransfer-Encoding: chunked\r\n\r\n")
            if path == "/giant-chunk":
                write(b"7fffffffffffffff\r\n")
            while not self._stopping.is_set():
                write(b"f" * 65536 if path == "/giant-chunk-line" else os.urandom(65536))
        elif path == "/hls-file.m3u8":
            self._headers(handler, 200, mpegurl)
            write(b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nfile:///etc/passwd\n")
        elif path == "/hls-elsewhere.m3u8":
            self._headers(handler, 200, mpegurl)
            write(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{self.elsewhere}\n".encode())
        elif path == "/hls-growing.m3u8":  # every reload 100 KB longer
            self._growth += 1
            self._headers(handler, 200, mpegurl)
            write(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n")
            for n in range(self._growth * 4000):
                write(f"#EXTINF:1.0,\n/s{n}.ts\n".encode())
        elif path.startswith("/s") and path.endswith(".ts"):  # the growing playlist's segments: 1 s of silence
            if self._segment is None:
                self._segment = _ffmpeg(["-c:a", "aac", "-f", "mpegts", "pipe:1"], bytes(4 * 22050), 22050)
            self._headers(handler, 200, {"Content-Type": "video/mp2t", "Content-Length": str(len(self._segment))})
            write(self._segment)
        elif path == "/hls-missing.m3u8":  # live, a new segment every second, none of them there
            now = int(time.time())
            self._headers(handler, 200, mpegurl)
            write(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n" + f"#EXT-X-MEDIA-SEQUENCE:{now}\n".encode())
            write(b"".join(f"#EXTINF:1.0,\n/gone/{now + k}.ts\n".encode() for k in range(3)))
        elif path == "/hls-endless.m3u8":
            self._headers(handler, 200, mpegurl)
            write(b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n")
            n = 0
            while not self._stopping.is_set():
                write(b"".join(f"#EXTINF:1.0,\n/s{n + k}.ts\n".encode() for k in range(1000)))
                n += 1000
        else:
            self._headers(handler, 404, {"Content-Type": "text/plain"})


class CanaryServer(_LoopbackServer):
    """Answers anything with 200 and counts connections: a test asserts it stays at 0."""

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())

    def handle(self, handler: _Handler) -> None:
        self._headers(handler, 200, {"Content-Type": "text/plain", "Content-Length": "6"})
        handler.wfile.write(b"canary")


def _decoded(entry: dict) -> np.ndarray:
    from recognition.engine.audio import decode

    seconds = entry.get("duration_s", 600)
    return decode(entry["path"], sample_rate_hz=22050, max_seconds=seconds, start_s=entry.get("start_s", 0.0))


def serve(manifest_path: str) -> None:
    """Serve the stations of a JSON manifest until SIGTERM; print the port and each station's clock.

    Manifest: {"port": 0, "burst_s": 2, "tick_s": 0.25, "stations": {"name": {"format": "mp3",
    "loop": true, "t0_offset_s": 0, "items": [{"name": "...", "path": "song.wav", "start_s": 0,
    "duration_s": 30}]}}}. Stations with the same items share one encoding.
    """
    import signal

    manifest = json.loads(Path(manifest_path).read_text())
    encoded: dict[str, Station] = {}
    stations: dict[str, Station] = {}
    for name, spec in manifest["stations"].items():
        key = json.dumps([spec["items"], spec.get("format", "mp3"), spec.get("loop", True)], sort_keys=True)
        if key not in encoded:
            items = [
                Item(entry["name"], _decoded(entry), 22050) for entry in spec["items"]
            ]  # fmt: skip
            encoded[key] = Station(items, fmt=spec.get("format", "mp3"), loop=spec.get("loop", True))
        stations[name] = encoded[key]
    now = time.time()  # the clocks start once everything is encoded
    stations = {
        name: station.copy(t0=now + spec.get("t0_offset_s", 0.0))
        for (name, station), spec in zip(stations.items(), manifest["stations"].values(), strict=True)
    }
    server = StreamServer(
        stations,
        burst_s=manifest.get("burst_s", 2.0),
        tick_s=manifest.get("tick_s", 0.25),
        port=manifest.get("port", 0),
    ).start()
    clocks = {
        name: {"t0": s.t0, "duration_s": s.duration_s, "offsets_s": s.offsets_s, "url": server.station_url(name)}
        for name, s in stations.items()
    }
    print(json.dumps({"port": server.port, "stations": clocks}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        print(__doc__.split("\n\n")[-1].strip())
        sys.exit(2)
