"""Stream sources: a live audio URL (Icecast/SHOUTcast MP3, AAC, Ogg; HLS) -> int16 mono samples.

ffmpeg never touches the network. Python fetches through `portal.outbound` (one lookup, the checked
address pinned, timeouts and size caps) and writes the bytes into a sandboxed ffmpeg child on its
stdin: `-protocol_whitelist pipe`, a demuxer whitelist of plain audio containers, and the CPU,
address-space and no-file limits of `recognition.engine.audio`. HLS playlists are read here, not by
ffmpeg: segments are fetched one by one through the guard and their bytes fed in order.

One `StreamSource` is one connection: a feeder thread copies network -> ffmpeg stdin, `read()`
takes PCM from ffmpeg's stdout. Every failure is a `SourceError`; `permanent` says whether
reconnecting (after `backoff_s`) can help. No Django import: the benchmark uses this alone.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from portal import outbound
from recognition.monitors.sources.errors import SourceError
from recognition.monitors.sources.stream import SourceLimits, StreamSource

__all__ = ["SourceError", "SourceLimits", "StreamSource", "backoff_s", "source_check", "source_probe"]


def backoff_s(attempt: int) -> float:
    """Return the wait before reconnection `attempt` (0, 1, ...): 1, 2, 4 ... 60 s, each jittered down to half."""
    return min(60.0, 2.0 ** min(attempt, 16)) * (0.5 + random.random() / 2)


def source_check(url: str, *, allow_private: bool) -> None:
    """Refuse, fast and before any connection, a URL that is not http(s) or points to a private address."""
    try:
        outbound.check_url(url, allow_private=allow_private)
    except outbound.OutboundError as error:
        raise SourceError.from_outbound(error) from None


def source_probe(url: str, *, allow_private: bool, timeout_s: float = 8.0, limits: SourceLimits | None = None) -> None:
    """Connect, check the answer and decode one second of audio within `timeout_s`, else raise SourceError."""
    limits = limits or SourceLimits()
    limits = replace(limits, read_timeout_s=min(limits.read_timeout_s, timeout_s), no_audio_s=timeout_s)
    source = StreamSource(url, allow_private=allow_private, limits=limits)
    deadline = time.monotonic() + timeout_s
    heard = 0
    try:
        while heard < source.sample_rate_hz:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if source.bytes_received:
                    raise SourceError("no_audio", f"No audio could be decoded from the stream in {timeout_s:.0f} s.")
                raise SourceError("timeout", f"The stream sent nothing in {timeout_s:.0f} s.")
            heard += len(source.read(source.sample_rate_hz, timeout_s=remaining))
    finally:
        source.close()
