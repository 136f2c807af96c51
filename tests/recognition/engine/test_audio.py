"""The decode sandbox (G8): every ffmpeg/ffprobe call is limited, local-only and capped."""

import errno
import http.server
import os
import socket
import subprocess
import textwrap
import threading
import time

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
