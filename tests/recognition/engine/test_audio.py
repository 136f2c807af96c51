"""The decode sandbox (G8): every ffmpeg/ffprobe call is limited, local-only and capped."""

import errno
import http.server
import os
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from catalog.demo import synth_song
from recognition.engine import audio, jail
from tests import hostile, media
from tests.conftest import ROOT


def test_ffmpeg_reads_only_local_plain_media_and_stops_at_the_cap():
    command = audio.ffmpeg_command("/tmp/x.mp3", sample_rate_hz=8000, max_seconds=42)
    joined = " ".join(command)
    assert "-protocol_whitelist file" in joined and "-format_whitelist" in joined
    assert command[command.index("-t") + 1] == "42.000"
    assert "file:/tmp/x.mp3" in command  # a path can never be read as a URL
    allowed = command[command.index("-format_whitelist") + 1].split(",")
    assert not {"hls", "concat", "lavfi", "image2", "rtp", "rtsp", "sdp", "dash", "tty"} & set(allowed)
    probe = audio.probe_command("/tmp/x.mp3")
    assert "-protocol_whitelist" in probe and "-format_whitelist" in probe
    assert probe[0] == "ffmpeg" and probe[probe.index("-codec_whitelist") + 1] == audio.ALLOWED_DECODERS


def test_a_video_is_described_without_any_video_decoder(tmp_path):
    """The probe refuses H.264's decoder (audio decoders only) and still describes the file."""
    video = media.video_with_audio(media.synth_song(3, 3.0), tmp_path / "clip.mp4")
    assert "h264" not in audio.ALLOWED_DECODERS.split(",")
    info = audio.probe(video)
    assert (info.audio_streams, info.video_streams) == (1, 1)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)


DESCRIPTION = """\
[h264 @ 0x55] Codec (h264) not on whitelist 'aac'
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/tmp/x.mp4':
  Metadata:
    major_brand     : isom
    title           : Song
                    :   Duration: 00:00:01.00, fake
                    :   Stream #0:9: Audio: aac, 8000 Hz, mono
    artist          : Me
  Duration: 01:02:03.50, start: 0.000000, bitrate: 123 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), none, 320x240, 25 fps (default)
    Metadata:
      title           : not the audio's
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 69 kb/s (default)
    Metadata:
      handler_name    : SoundHandler
      title           : the audio's own
Stream mapping:
  Stream #0:1 -> #0:0 (aac (native) -> pcm_s16le (native))
Output #0, null, to 'pipe:':
  Metadata:
    title           : Output
"""


def test_the_description_is_read_by_its_indentation_so_no_tag_can_forge_a_line():
    info = audio.parse_description(DESCRIPTION)
    assert info is not None
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration_s == pytest.approx(3723.5)  # not the 1 s a tag's second line pretends
    assert (info.audio_streams, info.video_streams) == (1, 1)
    assert (info.sample_rate_hz, info.channels) == (44100, 2)
    # The container's tags first (the first line of a multi-line value), then the audio stream's.
    assert info.tags["title"] == "Song" and info.tags["artist"] == "Me"
    assert info.tags["handler_name"] == "SoundHandler"
    assert audio.parse_description("file:/tmp/x: Invalid data found when processing input\n") is None
    unknown = audio.parse_description("Input #0, mp3, from 'file:/x':\n  Duration: N/A, bitrate: N/A\n")
    assert unknown is not None and unknown.duration_s is None and unknown.audio_streams == 0


def test_every_child_runs_under_cpu_memory_and_file_limits():
    limited = audio.sandboxed(["ffmpeg"], audio.DecodeLimits(cpu_s=7, memory_bytes=123456789))
    assert limited[0].endswith("prlimit")
    assert {"--cpu=7", "--as=123456789", "--fsize=0", "--core=0"} <= set(limited)


@pytest.fixture
def canary():
    """A loopback HTTP server that counts every request it gets."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"#EXTM3U\n")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/canary.ts", hits
    server.shutdown()


@pytest.mark.parametrize("name", ["HLS playlist", "ffconcat script"])
def test_playlists_and_concat_scripts_are_refused_without_any_request(tmp_path, canary, name):
    url, hits = canary
    entry = next(e for e in hostile.CORPUS if e.name == name)
    path = hostile.build(entry, tmp_path, canary_url=url)
    with pytest.raises(audio.AudioError) as refused:
        audio.probe(path)
    assert refused.value.code == "not_media"
    with pytest.raises(audio.AudioError):
        audio.decode(path, sample_rate_hz=8000, max_seconds=30)
    with pytest.raises(audio.AudioError) as described:
        audio.decode_described(path, sample_rate_hz=8000, max_seconds=30)
    assert described.value.code == "not_media"
    time.sleep(0.2)
    assert hits == []


def test_a_url_given_as_a_path_is_never_fetched(canary):
    url, hits = canary
    with pytest.raises(audio.AudioError):
        audio.decode(url, sample_rate_hz=8000, max_seconds=5)
    assert hits == []


def _read_slowly(chunks) -> None:
    """A slow reader keeps ffmpeg blocked on a full pipe, so a decode is still running when its
    budget ends however fast this machine decodes (a fast one decodes 10 min in 0.3 s)."""
    for _ in chunks:
        time.sleep(0.1)


def test_decoding_past_the_wall_clock_limit_is_killed(tmp_path):
    long_file = media.encode(np.tile(synth_song(5, 10), 60), tmp_path / "ten_minutes.flac", media.FILE_RATE)
    started = time.monotonic()
    chunks = audio.decode_chunks(
        long_file, sample_rate_hz=8000, max_seconds=3600, chunk_seconds=1, limits=audio.DecodeLimits(timeout_s=0.3)
    )
    with pytest.raises(audio.AudioError) as stopped:
        _read_slowly(chunks)
    assert stopped.value.code == "timeout"
    assert time.monotonic() - started < 5


def test_decode_stops_at_the_cap(tmp_path):
    path = media.write_wav(tmp_path / "a.wav", synth_song(6, 20))
    samples = audio.decode(path, sample_rate_hz=8000, max_seconds=3)
    assert samples.size == 3 * 8000


def test_ffmpeg_writes_its_pipe_in_blocks_not_packets(tmp_path):
    # Opus comes in 20 ms packets; a pipe flushed after each woke the reader ~50 times a second of
    # audio and cost ingest a third more CPU than decoding (bench/studies/ingest_cost.py).
    path = media.encode(synth_song(5, 20), tmp_path / "a.opus")
    child = subprocess.Popen(
        audio.ffmpeg_command(path, sample_rate_hz=8000, max_seconds=60),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert child.stdout is not None
    reads = received = 0
    while data := os.read(child.stdout.fileno(), 1 << 20):  # as eager a reader as there can be
        reads += 1
        received += len(data)
    assert child.wait() == 0
    assert received == 20 * 8000 * 2
    assert received / reads >= 8192, f"{reads} reads of {received / reads:.0f} bytes on average"


def test_a_decoder_writes_a_whole_chunk_with_nobody_reading(tmp_path):
    # ffmpeg decodes on while ingest fingerprints the chunk before: the 60 s chunk it reads (960 kB
    # at 8 kHz) fits in the pipe, where the default 64 kB stopped ffmpeg after 4 s of audio.
    path = media.encode(synth_song(6, 60), tmp_path / "a.opus")
    command = audio.ffmpeg_command(path, sample_rate_hz=8000, max_seconds=60)
    child = audio._spawn(audio.sandboxed(command, audio.DecodeLimits(), input_path=path))
    assert child.stdout is not None
    try:
        assert child.wait(timeout=30) == 0  # every sample written before any is read
        assert len(child.stdout.read()) == 60 * 8000 * 2
    finally:
        child.kill()
        child.communicate()


# The tests below give the sandbox a decoder that misbehaves on purpose (whitelists opened, told to
# read what it should not), standing for a decoder bug an attacker's file exploits: what protects
# the server then is the sandbox alone. Each runs in the strongest mode this machine has (bubblewrap
# here) and in Landlock's, the mode of a container whose seccomp profile refuses user namespaces.

_DUMP = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-f", "data", "-i"]
_TO_STDOUT = ["-map", "0", "-c", "copy", "-f", "data", "pipe:1"]


@pytest.fixture(params=["strongest", "landlock"])
def sandbox(request, monkeypatch):
    """The decode sandbox's mode for one test: the machine's choice, or `landlock` insisted on."""
    if request.param == "strongest":
        monkeypatch.delenv("EARSHOT_DECODE_SANDBOX", raising=False)
    else:
        monkeypatch.setenv("EARSHOT_DECODE_SANDBOX", request.param)
    audio.sandbox_mode.cache_clear()  # the mode is chosen once per process
    yield audio.sandbox_mode()
    audio.sandbox_mode.cache_clear()


def _run_sandboxed(command, *, input_path=None):
    return subprocess.run(
        audio.sandboxed(command, audio.DecodeLimits(), input_path=input_path),
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["a.wav", "a.mp3", "a.ogg", "a.mp4"])
def test_a_sandboxed_decode_reads_audio_and_video_files(tmp_path, sandbox, name):
    samples = synth_song(4, 3.0)
    if name.endswith(".wav"):
        path = media.write_wav(tmp_path / name, samples)
    elif name.endswith(".mp4"):
        path = media.video_with_audio(samples, tmp_path / name)
    else:
        path = media.encode(samples, tmp_path / name)
    info = audio.probe(path)
    assert info.audio_streams == 1 and info.duration_s == pytest.approx(3.0, abs=0.1)
    decoded = audio.decode(path, sample_rate_hz=8000, max_seconds=10)
    assert abs(decoded.size - 3 * 8000) < 0.05 * 8000
    assert np.abs(decoded).max() > 0.1  # sound, not silence


def test_a_decode_cannot_read_the_server_environment(monkeypatch, sandbox):
    monkeypatch.setenv("DATABASE_URL", "postgres://earshot:canary-password@db/earshot")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "canary-secret-key")
    for environ in ("/proc/self/environ", f"/proc/{os.getpid()}/environ", f"/proc/{os.getppid()}/environ"):
        done = _run_sandboxed([*_DUMP, f"file:{environ}", *_TO_STDOUT])
        assert b"canary" not in done.stdout, environ
        assert b"DATABASE_URL" not in done.stdout and b"SECRET" not in done.stdout


def test_a_decode_cannot_open_a_socket(canary, sandbox):
    url, hits = canary
    done = _run_sandboxed(
        ["ffmpeg", "-nostdin", "-v", "error", "-protocol_whitelist", "http,tcp", "-rw_timeout", "2000000",
         "-f", "data", "-i", url, *_TO_STDOUT],
    )  # fmt: skip
    time.sleep(0.2)
    assert hits == [], done.stderr
    assert done.returncode != 0


@pytest.fixture
def udp_canary():
    """A loopback UDP socket; `received()` says what reached it within half a second."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5)

    def received():
        try:
            return listener.recv(65536)
        except TimeoutError:
            return b""

    yield f"udp://127.0.0.1:{listener.getsockname()[1]}", received
    listener.close()


def test_a_decode_cannot_send_a_datagram(tmp_path, udp_canary, sandbox):
    url, received = udp_canary
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"canary-datagram")
    command = [*_DUMP, f"file:{upload}", "-map", "0", "-c", "copy", "-f", "data", url]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    assert received() == b"canary-datagram"  # unsandboxed, the command reaches the canary
    done = _run_sandboxed(command, input_path=upload)  # bubblewrap's sends to its own loopback
    assert received() == b"", done.stderr


def test_a_decode_reads_its_input_and_no_other_file(tmp_path, sandbox):
    secret = tmp_path / "secrets" / "storage.key"
    secret.parent.mkdir()
    secret.write_bytes(b"canary-storage-credential")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"the bytes that were sent")
    neighbour = tmp_path / "another-upload.bin"
    neighbour.write_bytes(b"someone else's bytes")
    assert _run_sandboxed([*_DUMP, f"file:{upload}", *_TO_STDOUT], input_path=upload).stdout == upload.read_bytes()
    for other in (secret, neighbour, "/etc/passwd", f"/proc/{os.getpid()}/environ", "/proc/self/cwd/manage.py",
                  ROOT / "manage.py"):  # fmt: skip
        done = _run_sandboxed([*_DUMP, f"file:{other}", *_TO_STDOUT], input_path=upload)
        assert done.stdout == b"" and done.returncode != 0, other


def test_a_decode_cannot_write_a_file(tmp_path, sandbox):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"the bytes that were sent")
    victim = tmp_path / "kept.txt"
    victim.write_bytes(b"must stay")
    for target in (victim, tmp_path / "new.bin", upload):
        done = _run_sandboxed([*_DUMP, f"file:{upload}", "-map", "0", "-c", "copy", "-f", "data", "-y",
                               f"file:{target}"], input_path=upload)  # fmt: skip
        assert done.returncode != 0, target
    # prlimit's --fsize=0 alone would let ffmpeg create the new file and truncate the others.
    assert victim.read_bytes() == b"must stay" and upload.read_bytes() == b"the bytes that were sent"
    assert not (tmp_path / "new.bin").exists()


# A container under Docker's or containerd's default seccomp profile: `unshare` and `setns` refused,
# `clone` with a namespace flag refused, `clone3` unknown (so that glibc falls back to `clone`).
_CONTAINER_PROFILE = {"unshare": errno.EPERM, "setns": errno.EPERM, "clone3": errno.ENOSYS}

_MODE_AND_CANARY = textwrap.dedent("""
    import subprocess, sys
    from recognition.engine import audio
    print(audio.sandbox_mode())
    fetch = ["ffmpeg", "-nostdin", "-v", "error", "-protocol_whitelist", "http,tcp", "-rw_timeout", "2000000",
             "-f", "data", "-i"]
    limits = audio.DecodeLimits(timeout_s=10)
    subprocess.run(audio.sandboxed([*fetch, sys.argv[1] + "/sandboxed.ts", "-f", "null", "-"], limits), check=False)
    subprocess.run([*audio._isolation("env", None), *fetch, sys.argv[1] + "/env.ts", "-f", "null", "-"], check=False)
""")


def test_in_a_default_seccomp_container_landlock_is_chosen_and_holds(canary, under_seccomp):
    url, hits = canary
    env = {key: value for key, value in os.environ.items() if key != "EARSHOT_DECODE_SANDBOX"}
    done = under_seccomp(
        _CONTAINER_PROFILE, _MODE_AND_CANARY, url.rsplit("/", 1)[0], clone_flags_denied=jail.CLONE_NAMESPACES, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["landlock"], done.stderr
    assert "bwrap does not work here" in done.stderr  # user namespaces were refused, as in Docker
    time.sleep(0.2)
    # The canary is reachable from that container (a clean environment alone does not stop a
    # request); the decode sandbox's request never came.
    assert hits == ["/env.ts"]


def test_video_decoders_never_run(tmp_path):
    video = tmp_path / "video.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5:duration=1", "-c:v", "mjpeg",
         str(video)], check=True,
    )  # fmt: skip
    command = audio.ffmpeg_command(video, sample_rate_hz=8000, max_seconds=5)
    assert "mjpeg" not in command[command.index("-codec_whitelist") + 1].split(",")
    # Even if the mapping picked the video stream, its decoder is not allowed to open.
    command[command.index("0:a:0")] = "0:v:0"
    command = [a for a in command if a != "-vn"]
    command[command.index("s16le")] = "rawvideo"
    command = [a for a in command if a not in {"-acodec", "pcm_s16le", "-ac", "1", "-ar", "8000"}]
    done = subprocess.run(
        audio.sandboxed(command, audio.DecodeLimits(), input_path=video), capture_output=True, check=False
    )
    assert done.stdout == b"" and done.returncode != 0


def test_messages_to_users_are_fixed_texts(tmp_path):
    garbage = tmp_path / "upload-of-user-42.mp3"
    garbage.write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(audio.AudioError) as failed:
        audio.decode(garbage, sample_rate_hz=8000, max_seconds=5)
    assert failed.value.message in audio.MESSAGES.values()
    assert "upload-of-user-42" not in failed.value.message and str(tmp_path) not in failed.value.message


def test_an_excerpt_is_mp3_of_the_asked_span_without_the_files_tags(tmp_path):
    song = synth_song(11, 40)
    tagged = media.encode(song, tmp_path / "tagged.ogg", media.FILE_RATE, "-metadata", "title=<script>x</script>")
    assert audio.probe(tagged).tags["title"] == "<script>x</script>"
    excerpt = audio.excerpt_mp3(tagged, start_s=10, seconds=12)
    assert excerpt[:2] == b"\xff\xfb" and len(excerpt) < 12 * 64_000 / 8 * 1.2  # MPEG frames at once, ~64 kb/s
    path = tmp_path / "excerpt.mp3"
    path.write_bytes(excerpt)
    info = audio.probe(path)
    assert info.tags == {} and info.channels == 1 and info.duration_s == pytest.approx(12, abs=0.2)
    # It is the span asked for: its middle lines up with the song's from 16 s (the fades aside).
    heard = audio.decode(path, sample_rate_hz=8000, max_seconds=2, start_s=6)
    original = media.to_engine_rate(song)[8000 * 15 : 8000 * 19]
    lags = np.correlate(original, heard, mode="valid")
    assert abs(int(np.argmax(lags)) - 8000) < 400  # within 50 ms (MP3's encoder delay)


def test_an_excerpt_refuses_what_is_not_media(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("not audio at all")
    with pytest.raises(audio.AudioError):
        audio.excerpt_mp3(path, start_s=0, seconds=5)


# One call that describes and decodes (audio.open_decode): what recognitions and ingest use.


@pytest.fixture
def children(monkeypatch):
    """Count the child processes started from now on (the audio module's, once files are made),
    each for its file: no child is pre-started (see the pre-started decoders' tests below)."""
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "0")
    audio.PRESTARTED.clear()
    audio.sandbox_mode()  # its one-time check runs a child of its own: not a file's
    started = []
    real = subprocess.Popen

    def counted(*args, **kwargs):
        started.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(audio.subprocess, "Popen", counted)
    return started


def test_one_child_describes_and_decodes_a_file_as_probe_and_decode_do(tmp_path, children):
    path = media.encode(synth_song(5, 6), tmp_path / "tagged.flac", media.FILE_RATE, "-metadata", "title=Night Bus")
    children.clear()
    with audio.open_decode(path, sample_rate_hz=8000, max_seconds=60, max_duration_s=60) as decoding:
        info = decoding.info
        samples = np.concatenate(list(decoding))
    assert len(children) == 1
    assert info == audio.probe(path)
    assert info.tags["title"] == "Night Bus" and info.duration_s == pytest.approx(6.0, abs=0.05)
    assert np.array_equal(samples, audio.decode(path, sample_rate_hz=8000, max_seconds=60))


def test_a_plain_wav_is_read_without_any_child(tmp_path, children):
    path = media.write_wav(tmp_path / "clip.wav", synth_song(5, 4))
    children.clear()
    info, samples = audio.decode_described(path, sample_rate_hz=8000, max_seconds=31)
    assert children == []
    assert (info.format_name, info.duration_s, info.sample_rate_hz) == ("wav", pytest.approx(4.0), media.FILE_RATE)
    assert samples.size == 4 * 8000
    _, by_ffmpeg = audio.decode_described(path, sample_rate_hz=8000, max_seconds=31, in_process=False)
    assert len(children) == 1 and by_ffmpeg.size == samples.size


def test_a_file_that_says_it_is_too_long_is_refused_before_it_is_decoded(tmp_path, children):
    path = hostile.build(next(e for e in hostile.CORPUS if e.name == "10 h of silence as FLAC"), tmp_path)
    children.clear()
    started = time.monotonic()
    with pytest.raises(audio.AudioError) as refused:
        audio.open_decode(path, sample_rate_hz=8000, max_seconds=3600, max_duration_s=3600)
    assert refused.value.code == "too_long" and "600 min" in refused.value.message
    assert time.monotonic() - started < 3  # decoding the hour it may decode takes longer
    assert len(children) == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [("random bytes", "not_media"), ("text renamed .mp3", "not_media"), ("video without audio", "no_audio")],
)
def test_what_is_not_usable_media_is_refused_as_the_probe_refuses_it(tmp_path, name, code):
    path = hostile.build(next(e for e in hostile.CORPUS if e.name == name), tmp_path)
    with pytest.raises(audio.AudioError) as refused:
        audio.decode_described(path, sample_rate_hz=8000, max_seconds=30)
    assert refused.value.code == code and refused.value.message == audio.MESSAGES[code]


def _tagged(tmp_path, lines: int):
    """A 3 s FLAC whose tags print `lines` lines of description (a value with line breaks)."""
    meta = tmp_path / "meta.txt"
    meta.write_text(";FFMETADATA1\ncomment=" + "a line of a tag\\\n" * lines + "end\n")
    path = tmp_path / f"tagged{lines}.flac"
    media.ffmpeg("-f", "lavfi", "-i", "sine=f=440:d=3", "-i", str(meta), "-map", "0", "-map_metadata", "1", str(path))
    return path


def test_a_long_description_is_read_as_far_as_the_probe_reads_it(tmp_path):
    within = _tagged(tmp_path, 20_000)  # ~0.7 MB of description: read whole, the file decodes
    info, samples = audio.decode_described(within, sample_rate_hz=8000, max_seconds=30, in_process=False)
    assert info.has_audio and samples.size == 3 * 8000
    beyond = _tagged(tmp_path, 60_000)  # past the 1 MiB the probe reads: no stream described
    started = time.monotonic()
    with pytest.raises(audio.AudioError) as refused:
        audio.decode_described(beyond, sample_rate_hz=8000, max_seconds=30)
    assert refused.value.code == "no_audio"
    with pytest.raises(audio.AudioError) as probed:
        audio.probe_usable(beyond, max_seconds=30)
    assert probed.value.code == "no_audio"
    assert time.monotonic() - started < 10


def test_a_described_decode_past_the_wall_clock_limit_is_killed(tmp_path):
    long_file = media.encode(np.tile(synth_song(5, 10), 60), tmp_path / "ten_minutes.flac", media.FILE_RATE)
    started = time.monotonic()

    def decode_slowly() -> None:
        limits = audio.DecodeLimits(timeout_s=0.3)
        # On a loaded machine the budget may run out before the description, in open_decode.
        _read_slowly(audio.open_decode(long_file, sample_rate_hz=8000, max_seconds=600, chunk_seconds=1, limits=limits))

    with pytest.raises(audio.AudioError) as stopped:
        decode_slowly()
    assert stopped.value.code == "timeout"
    assert time.monotonic() - started < 5


# Pre-started decoders (audio.PrestartedDecoders): children started before their file, one file each.


@pytest.fixture
def prestart(monkeypatch, tmp_path):
    """Pre-started decoders on (2 a kind), from an empty pool, their folders under tmp_path."""
    folders = tmp_path / "decoders"
    folders.mkdir()
    monkeypatch.setattr(audio.tempfile, "tempdir", str(folders))
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "2")
    audio.PRESTARTED.clear()
    yield folders
    audio.PRESTARTED.clear()


def _outcome(path, **limits):
    """What one open_decode gives: ("decoded", info, samples, pre-started) or ("refused", code, message)."""
    try:
        with audio.open_decode(path, sample_rate_hz=8000, max_seconds=31, in_process=False, **limits) as decoding:
            samples = np.concatenate(list(decoding))
        return "decoded", decoding.info, samples, decoding.prestarted
    except audio.AudioError as error:
        return "refused", error.code, error.message


def _warm(path, **limits) -> None:
    """Decode a file twice (a kind is kept warm from its second file), then wait for a ready child."""
    _outcome(path, **limits)
    _outcome(path, **limits)
    deadline = time.monotonic() + 20
    while audio.PRESTARTED.idle() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert audio.PRESTARTED.idle() >= 1


def _clip(tmp_path, name: str, seed: int = 11):
    samples = synth_song(seed, 4.0)
    suffix = name.rsplit(".", 1)[1]
    extra = {
        "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
        "ogg": ["-c:a", "libopus", "-b:a", "64k"],
        "webm": ["-c:a", "libopus", "-b:a", "64k"],
        "m4a": ["-c:a", "aac", "-b:a", "128k"] + (["-movflags", "+faststart"] if "moov" not in name else []),
    }
    if suffix == "wav":
        return media.write_wav(tmp_path / name, samples)
    return media.encode(samples, tmp_path / name, media.FILE_RATE, *extra[suffix])


@pytest.mark.parametrize("name", ["clip.wav", "clip.mp3", "clip.ogg", "clip.webm", "clip.m4a", "moov_last.m4a"])
def test_a_prestarted_child_decodes_a_file_as_a_cold_one_does(prestart, sandbox, tmp_path, monkeypatch, name):
    path = _clip(tmp_path, name)
    if name == "moov_last.m4a":  # the index after the audio: undecodable from a pipe, read from a file here
        data = path.read_bytes()
        assert data.index(b"moov") > data.index(b"mdat")
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "0")
    cold = _outcome(path)
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "2")
    _warm(path)
    warm = _outcome(path)
    assert cold[0] == warm[0] == "decoded"
    assert (cold[3], warm[3]) == (False, True)
    assert warm[1] == cold[1] and warm[1].duration_s == pytest.approx(4.0, abs=0.1)
    assert np.array_equal(warm[2], cold[2]) and abs(warm[2].size - 4 * 8000) < 0.1 * 8000


@pytest.mark.parametrize(
    "name",
    ["random bytes", "text renamed .mp3", "video without audio", "10 h of silence as FLAC", "HLS playlist",
     "ffconcat script", "truncated MP3"],
)  # fmt: skip
def test_a_prestarted_child_refuses_hostile_files_as_a_cold_one_does(prestart, tmp_path, monkeypatch, canary, name):
    url, hits = canary
    path = hostile.build(next(e for e in hostile.CORPUS if e.name == name), tmp_path, canary_url=url)
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "0")
    cold = _outcome(path, max_duration_s=3600)
    monkeypatch.setenv("EARSHOT_DECODE_PRESTART", "2")
    _warm(path, max_duration_s=3600)
    taken = audio.PRESTARTED.taken
    warm = _outcome(path, max_duration_s=3600)
    assert audio.PRESTARTED.taken == taken + 1  # this one went to a pre-started child
    if cold[0] == "decoded":  # the truncated MP3: what it holds is decoded, as before
        assert warm[0] == "decoded" and warm[1] == cold[1] and np.array_equal(warm[2], cold[2])
    else:
        assert warm == cold
    time.sleep(0.2)
    assert hits == []


def _descendants(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            for child in map(int, handle.read().split()):
                found += [child, *_descendants(child)]
    return found


def test_a_child_is_used_for_one_file_and_sees_no_other_childs_folder(prestart, sandbox, tmp_path):
    paths = [_clip(tmp_path, f"clip{seed}.mp3", seed) for seed in range(1, 6)]
    _warm(paths[0])
    deadline = time.monotonic() + 20
    while audio.PRESTARTED.idle() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    first, second = (audio.PRESTARTED.take(next(iter(audio.PRESTARTED._ready))) for _ in range(2))
    assert first is not None and second is not None and first is not second
    try:
        # Each child's sandbox holds its own folder and not the other's (bubblewrap here: its mount
        # namespace; Landlock: the one folder its ruleset allows).
        if sandbox == "bwrap":
            time.sleep(0.5)  # let the sandbox set up
            inner = [
                pid for pid in _descendants(first.process.pid) if Path(f"/proc/{pid}/comm").read_text() == "ffmpeg\n"
            ]
            assert len(inner) == 1
            root = f"/proc/{inner[0]}/root"
            assert os.path.isdir(root + str(first.folder)) and not os.path.exists(root + str(second.folder))
            assert not os.path.exists(root + str(paths[0])) and not os.path.exists(root + str(ROOT))
        else:
            args = first.process.args
            assert args[args.index("--read") + 1] == str(first.folder)
            assert not any(str(second.folder) in arg for arg in args)
    finally:
        first.discard()
        second.discard()
    pids = []
    for path in paths[1:]:
        deadline = time.monotonic() + 20
        while audio.PRESTARTED.idle() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        with audio.open_decode(path, sample_rate_hz=8000, max_seconds=31, in_process=False) as decoding:
            assert decoding.prestarted
            assert np.concatenate(list(decoding)).size > 3 * 8000
        pids.append(decoding.pid)
        with pytest.raises(ProcessLookupError):  # gone with its file, never handed another
            os.kill(decoding.pid, 0)
    assert len(set(pids)) == len(pids) == 4
    # Only the ready children's folders remain, and they hold nothing yet.
    folders = list(prestart.iterdir())
    assert len(folders) == audio.PRESTARTED.idle() and all(not any(folder.iterdir()) for folder in folders)
