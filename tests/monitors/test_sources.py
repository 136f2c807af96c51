"""Stream sources against real loopback stream servers and a real, sandboxed ffmpeg (G24).

Happy paths decode real audio (Icecast MP3/AAC/Ogg, live HLS) and match it to what the server
plays; every row of RELIABILITY.md's "Hostile stream sources" has a test here or in
test_outbound.py (the rebinding guard itself).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy import signal

from bench.streams import CanaryServer, HlsServer, HostileServer, Item, Station, StreamServer
from catalog.demo import synth_song
from portal import outbound
from recognition.monitors.sources import (
    SourceError,
    SourceLimits,
    StreamSource,
    backoff_s,
    hls,
    source_check,
    source_probe,
    stream,
)
from tests.monitors.test_outbound import PUBLIC_STANDIN, resolver, standin_public  # noqa: F401 - fixtures

RATE = 8000
FILE_RATE = 22050


def _items(seconds: float = 5.0, seeds=(11, 12)) -> list[Item]:
    return [Item(f"song-{seed}", synth_song(seed, seconds, FILE_RATE), FILE_RATE) for seed in seeds]


def _reference(items: list[Item]) -> np.ndarray:
    return signal.resample_poly(np.concatenate([i.samples for i in items]), RATE, FILE_RATE).astype(np.float32)


def _read_for(source: StreamSource, seconds: float) -> tuple[np.ndarray, float]:
    """Read for `seconds` of wall clock; return the samples and the time the first one came."""
    started = time.monotonic()
    first = None
    parts = []
    while time.monotonic() - started < seconds:
        chunk = source.read(RATE // 2, timeout_s=0.5)
        if len(chunk) and first is None:
            first = time.monotonic() - started
        parts.append(chunk)
    return np.concatenate(parts).astype(np.float32) / 32768, first if first is not None else seconds


def _error_after_reading(source: StreamSource, *, seconds: float = 20, check=None) -> SourceError:
    """Read until the source raises (at most `seconds`); return its error."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            samples = source.read(RATE)
        except SourceError as error:
            return error
        if check is not None:
            check(source, samples)
    raise AssertionError(f"no SourceError in {seconds} s")


def _best_match(heard: np.ndarray, reference: np.ndarray) -> float:
    """The highest normalized correlation of 1 s of what was heard against the whole reference."""
    excerpt = heard[len(heard) // 2 : len(heard) // 2 + RATE]
    excerpt = excerpt - excerpt.mean()
    scores = signal.correlate(reference, excerpt, mode="valid", method="fft")
    energy = np.sqrt(np.convolve(reference**2, np.ones(len(excerpt)), mode="valid")) * np.linalg.norm(excerpt)
    return float(np.max(scores / np.maximum(energy, 1e-9)))


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.mark.parametrize("fmt", ["mp3", "aac", "opus", "vorbis"])
def test_icecast_streams_decode_in_real_time_after_the_burst(fmt):
    items = _items()
    station = Station(items, fmt=fmt, loop=True)
    station.t0 = time.time() - 4  # on air for 4 s: a listener gets a 2 s burst
    with StreamServer(station, burst_s=2.0) as server, StreamSource(server.station_url(), allow_private=True) as source:
        heard, first_s = _read_for(source, 3.0)
    decoded_s = len(heard) / RATE
    # 2 s of burst + the time read after the first samples, give or take ffmpeg's 200 ms blocks and start-up
    assert first_s < 2.5
    assert 2.0 + (3.0 - first_s) - 1.5 < decoded_s < 2.0 + 3.0 + 0.6
    assert _best_match(heard, _reference(items)) > 0.6


@pytest.mark.parametrize(("path", "fmt"), [("/master.m3u8", "mpegts"), ("/live.m3u8", "aac")])
def test_live_hls_follows_the_playlist_and_decodes_its_segments(path, fmt):
    items = _items(4.0, seeds=(13, 14, 15))
    with (
        HlsServer(items, segment_s=1.0, fmt=fmt) as server,
        StreamSource(server.url(path), allow_private=True) as source,
    ):
        heard, _ = _read_for(source, 4.0)
        assert server.hits["/live.m3u8"] >= 2  # the media playlist was reloaded as it slid
    # Two segments of backlog at once, then one a second: ~2 s ahead of the wall clock.
    assert 2.5 < len(heard) / RATE < 7.5
    assert _best_match(heard, _reference(items)) > 0.6


def test_probe_accepts_real_streams_quickly():
    items = _items(3.0)
    with StreamServer(Station(items, loop=True)) as radio, HlsServer(items, segment_s=1.0) as hls:
        for url in (radio.station_url(), hls.url("/master.m3u8")):
            started = time.monotonic()
            source_probe(url, allow_private=True, timeout_s=8)
            assert time.monotonic() - started < 8


def test_private_and_loopback_sources_are_refused_at_creation():
    with StreamServer(Station(_items(2.0), loop=True)) as server:
        for url in (server.station_url(), "http://localhost/stream", "http://10.0.0.7:8000/live"):
            with pytest.raises(SourceError) as refused:
                source_check(url, allow_private=False)
            assert refused.value.code == "private_address" and refused.value.permanent
        with pytest.raises(SourceError) as probed:
            source_probe(server.station_url(), allow_private=False, timeout_s=3)
        assert probed.value.code == "private_address"
        assert server.hits.total() == 0
        source_check(server.station_url(), allow_private=True)
    for url in ("file:///etc/passwd", "rtmp://example.com/live", "http://user:secret@example.com/s"):
        with pytest.raises(SourceError) as bad:
            source_check(url, allow_private=True)
        assert bad.value.code == "bad_url" and bad.value.permanent


def test_a_rebinding_stream_host_is_never_reached_on_loopback(resolver, standin_public):  # noqa: F811
    answers, lookups = resolver
    with CanaryServer() as canary, StreamServer(Station(_items(3.0), loop=True), host=PUBLIC_STANDIN) as server:
        answers["radio.rebind.test"] = [PUBLIC_STANDIN, "127.0.0.1"]
        url = f"http://radio.rebind.test:{server.port}/stream"
        with StreamSource(url, allow_private=False) as source:
            heard, _ = _read_for(source, 1.5)
        assert len(heard) > RATE // 2 and lookups == ["radio.rebind.test"] and canary.total_hits == 0


@pytest.mark.parametrize(
    ("path", "code", "permanent"),
    [
        ("/html", "not_audio", True), ("/json", "not_audio", True), ("/404", "not_found", True),
        ("/500", "http_error", True), ("/loop", "redirect_loop", True), ("/hls-file.m3u8", "bad_playlist", True),
        ("/hls-endless.m3u8", "too_large", True), ("/silent", "timeout", False), ("/random", "no_audio", False),
        ("/endless-headers", "bad_response", False), ("/long-header", "bad_response", False),
        ("/giant-chunk-line", "bad_response", False), ("/giant-chunk", "no_audio", False),
    ],
)  # fmt: skip
def test_hostile_sources_are_refused_at_creation_with_a_reason(hostile, path, code, permanent):
    started = time.monotonic()
    with pytest.raises(SourceError) as refused:
        source_probe(hostile.url(path), allow_private=True, timeout_s=3)
    assert (refused.value.code, refused.value.permanent) == (code, permanent)
    assert refused.value.message and time.monotonic() - started < 4.5


def test_hls_segments_on_a_private_address_are_refused(standin_public):  # noqa: F811
    with CanaryServer() as canary, HostileServer(host=PUBLIC_STANDIN) as server:
        server.elsewhere = canary.url("/segment.ts")
        with pytest.raises(SourceError) as refused:
            source_probe(server.url("/hls-elsewhere.m3u8"), allow_private=False, timeout_s=3)
        assert refused.value.code == "private_address" and refused.value.permanent
        assert canary.total_hits == 0 and server.hits["/hls-elsewhere.m3u8"] == 1


def test_an_hls_playlist_that_grows_forever_is_dropped(hostile):
    with StreamSource(hostile.url("/hls-growing.m3u8"), allow_private=True) as source:
        error = _error_after_reading(source)
    assert error.code == "too_large" and error.permanent
    # It listed thousands of new segments per reload; only the newest few were fetched.
    assert sum(n for p, n in hostile.hits.items() if p.endswith(".ts")) <= 3 * stream._MAX_NEW_SEGMENTS


def test_a_stream_that_goes_quiet_times_out_and_can_reconnect(hostile):
    limits = SourceLimits(read_timeout_s=1.5)
    started = time.monotonic()
    with StreamSource(hostile.url("/silent"), allow_private=True, limits=limits) as source:
        quiet = _error_after_reading(source)
    assert quiet.code == "timeout" and not quiet.permanent
    assert 1.4 < time.monotonic() - started < 3.5


def test_random_bytes_never_become_audio_and_the_source_is_retried(hostile):
    limits = SourceLimits(no_audio_s=2.0)
    heard: list[np.ndarray] = []
    with StreamSource(hostile.url("/random"), allow_private=True, limits=limits) as source:
        noise = _error_after_reading(source, check=lambda _, samples: heard.append(samples))
    assert noise.code == "no_audio" and not noise.permanent
    assert not np.any(np.concatenate([np.zeros(0), *heard]))  # nothing came out as a signal


def test_hours_of_silence_keep_the_source_up():
    silence = [Item("silence", np.zeros(FILE_RATE * 4, dtype=np.float32), FILE_RATE)]
    with (
        StreamServer(Station(silence, loop=True)) as server,
        StreamSource(server.station_url(), allow_private=True) as s,
    ):
        heard, _ = _read_for(s, 3.0)
    assert len(heard) > 2 * RATE and np.abs(heard).max() < 0.01


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _check_sandbox(source: StreamSource, _samples) -> None:
    process = source._process
    if process is not None and process.poll() is None:
        with open(f"/proc/{process.pid}/limits") as proc_limits:
            text = proc_limits.read()
        assert "Max file size             0" in text
        assert f"Max address space         {source._limits.decode.memory_bytes}" in text


def test_hostile_sources_take_bounded_memory_and_ffmpeg_runs_under_limits(hostile):
    limits = SourceLimits(read_timeout_s=2.0, no_audio_s=2.0)
    before = _rss_bytes()
    for path in ("/giant-chunk", "/endless-headers", "/long-header", "/giant-chunk-line", "/hls-endless.m3u8"):
        with StreamSource(hostile.url(path), allow_private=True, limits=limits) as source:
            _error_after_reading(source, check=_check_sandbox)
    assert _rss_bytes() - before < 50 * 1024 * 1024


def test_a_restarted_server_makes_a_retryable_error_then_plays_again():
    station = Station(_items(3.0), loop=True)
    server = StreamServer(station).start()
    port = server.port
    try:
        with StreamSource(server.station_url(), allow_private=True) as source:
            assert len(_read_for(source, 1.5)[0]) > RATE // 2
            server.stop()
            dropped = _error_after_reading(source)
            assert not dropped.permanent and dropped.code in {"ended", "disconnected"}
        with pytest.raises(SourceError) as down:
            source_probe(server.station_url(), allow_private=True, timeout_s=2)
        assert down.value.code == "connect" and not down.value.permanent
        server.start()
        assert server.port == port
        with StreamSource(server.station_url(), allow_private=True) as again:
            assert len(_read_for(again, 1.5)[0]) > RATE // 2
    finally:
        server.stop()


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    waits = [[backoff_s(attempt) for _ in range(50)] for attempt in range(12)]
    for attempt, samples in enumerate(waits):
        ceiling = min(60.0, 2.0**attempt)
        assert all(ceiling / 2 <= w <= ceiling for w in samples)
        assert len(set(samples)) > 1  # jittered: monitors that dropped together do not retry together
    assert max(max(samples) for samples in waits) <= 60.0


@pytest.mark.parametrize("path", ["/silent", "/stream"])
def test_close_from_another_thread_ends_a_blocked_read_within_a_second(hostile, path):
    with StreamServer(Station(_items(3.0), loop=True)) as radio:
        url = hostile.url(path) if path == "/silent" else radio.station_url()
        source = StreamSource(url, allow_private=True, limits=SourceLimits(read_timeout_s=30))
        if path == "/stream":
            _read_for(source, 1.0)
        closed_at: list[float] = []
        threading.Timer(0.3, lambda: (closed_at.append(time.monotonic()), source.close())).start()
        stopped = _error_after_reading(source, seconds=5)
        assert stopped.code == "closed" and time.monotonic() - closed_at[0] < 1.0
        source._feeder.join(timeout=2)
        assert not source._feeder.is_alive()
        assert source._process is None or source._process.poll() is not None


def test_ffmpeg_reads_only_its_pipe_and_plain_audio_containers():
    command = stream.stream_command("mp3", sample_rate_hz=RATE)
    assert command[command.index("-protocol_whitelist") + 1] == "pipe"
    assert set(command[command.index("-format_whitelist") + 1].split(",")) == {"aac", "mp3", "mpegts", "ogg"}
    assert command[command.index("-i") + 1] == "pipe:0" and "-f" in command
    assert not any(arg.startswith(("http", "file:", "tcp")) for arg in command)
    assert stream._sniff(b"OggS\x00") == "ogg" and stream._sniff(b"ID3\x04") == "mp3"
    assert hls.id3_size(b"ID3\x04\x00\x00\x00\x00\x01\x00") == 138


def test_source_errors_map_the_guards_codes():
    assert SourceError.from_outbound(outbound.OutboundError("redirect_loop", "x")).permanent
    assert not SourceError.from_outbound(outbound.OutboundError("timeout", "x")).permanent


def test_private_sources_are_off_unless_the_environment_says_so(settings):
    assert settings.EARSHOT_MONITOR_PRIVATE_SOURCES is False
