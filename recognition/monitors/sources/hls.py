"""HLS playlists as a monitor reads them: the media playlist to follow, its segments, their ID3 tags.

Parsing only; fetching goes through the stream source and `portal.outbound` like every request.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from recognition.monitors.sources.errors import SourceError

__all__ = [
    "PLAYLIST_TYPES",
    "PLS_TYPES",
    "MediaPlaylist",
    "Segment",
    "id3_size",
    "media_playlist",
    "station_url",
    "variant_url",
]

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
PLS_TYPES = {"audio/x-scpls", "audio/scpls", "application/pls+xml"}
PLAYLIST_TYPES = {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl"}


def id3_size(head: bytes) -> int:
    """Length of an ID3v2 tag at the start of `head` (packed-audio HLS segments begin with one), else 0."""
    if len(head) < 10 or not head.startswith(b"ID3"):
        return 0
    size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
    return size + 10 + (10 if head[5] & 0x10 else 0)


@dataclass(frozen=True)
class Segment:
    """One media segment: its sequence number, URL, EXTINF length and, when the playlist dates it
    (EXT-X-PROGRAM-DATE-TIME, carried forward over undated segments), the wall clock of its first
    sample in Unix seconds."""

    sequence: int
    url: str
    duration_s: float = 0.0
    on_air_at: float | None = None


@dataclass(frozen=True)
class MediaPlaylist:
    target_s: float
    segments: list[Segment]
    ended: bool


def segment_url(base: str, uri: str) -> str:
    """The absolute URL of a playlist entry; anything but http(s) (`file:`, `data:`...) refused."""
    url = urljoin(base, uri.strip())
    if urlsplit(url).scheme not in {"http", "https"}:
        raise SourceError("bad_playlist", "The HLS playlist points at something other than http(s).", permanent=True)
    return url


def _attributes(line: str) -> dict[str, str]:
    """The attribute list of a tag line: KEY=value or KEY="quoted, with commas"."""
    _, _, rest = line.partition(":")
    return {key: value.strip('"') for key, value in _ATTRIBUTE.findall(rest)}


def variant_url(text: str, base: str) -> str | None:
    """The media playlist to follow in a master playlist: an audio rendition, else the leanest variant."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        attrs = _attributes(line) if line.startswith("#EXT-X-MEDIA:") else {}
        if attrs.get("TYPE") == "AUDIO" and attrs.get("URI"):
            return segment_url(base, attrs["URI"])
    variants = []
    for line, uri in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("#EXT-X-STREAM-INF:") and uri and not uri.startswith("#"):
            attrs = _attributes(line)
            video = any(codec in attrs.get("CODECS", "") for codec in ("avc", "hvc", "hev", "vp09", "av01"))
            bandwidth = int(attrs["BANDWIDTH"]) if attrs.get("BANDWIDTH", "").isdigit() else 0
            variants.append((video, bandwidth, segment_url(base, uri)))
    return min(variants)[2] if variants else None


def media_playlist(text: str, base: str) -> MediaPlaylist:
    if not text.startswith("#EXTM3U"):
        raise SourceError("bad_playlist", "The HLS playlist does not start with #EXTM3U.", permanent=True)
    target_s, sequence, ended = 6.0, 0, False
    segments: list[Segment] = []
    expect_uri = False
    duration_s = 0.0
    dated: float | None = None  # when the next segment's first sample was on air, if the playlist says
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            dated = _date_time(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            with contextlib.suppress(ValueError):
                target_s = min(max(float(line.split(":", 1)[1]), 0.5), 30.0)
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            with contextlib.suppress(ValueError):
                sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-KEY:") and "METHOD=NONE" not in line:
            raise SourceError("unsupported", "Encrypted HLS streams are not supported.", permanent=True)
        elif line.startswith("#EXT-X-MAP:"):
            raise SourceError("unsupported", "HLS streams in fragmented MP4 are not supported.", permanent=True)
        elif line.startswith("#EXTINF"):
            expect_uri = True
            duration_s = _extinf(line)
        elif line == "#EXT-X-DISCONTINUITY":
            dated = None  # a new timeline: only a new EXT-X-PROGRAM-DATE-TIME dates it
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#") and expect_uri:
            segments.append(Segment(sequence + len(segments), segment_url(base, line), duration_s, dated))
            dated = None if dated is None else dated + duration_s
            expect_uri = False
    return MediaPlaylist(target_s, segments, ended)


def _extinf(line: str) -> float:
    """The length of `#EXTINF:<seconds>,<title>`; 0 when it cannot be read (the clock then skips it)."""
    try:
        value = float(line.split(":", 1)[1].split(",", 1)[0])
    except ValueError:
        return 0.0
    return value if 0 < value <= 60 else 0.0


def _date_time(text: str) -> float | None:
    """An EXT-X-PROGRAM-DATE-TIME (ISO 8601 with an offset) in Unix seconds; None when unreadable."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


def station_url(text: str, base: str) -> str | None:
    """The first stream of a plain .m3u (URL lines) or .pls (`FileN=URL`) playlist, if it is http(s)."""
    for raw in text.splitlines():
        line = raw.strip()
        if line.lower().startswith("file") and "=" in line:  # .pls
            line = line.split("=", 1)[1].strip()
        elif line.startswith(("#", "[")) or "=" in line.split("/", 1)[0]:
            continue
        if line:
            try:
                return segment_url(base, line)
            except SourceError:
                return None
    return None
