"""The microphone socket through Channels' WebsocketCommunicator, with the real database and Redis."""

import asyncio
import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from catalog.demo import synth_song
from portal.asgi import application
from recognition import limits
from recognition.engine import ListeningSession
from recognition.models import Recognition
from recognition.services import track_ingest
from tests import media

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
FRAME = 2000  # 250 ms at 8 kHz


def _pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.fixture
def catalog_song(rights_holder, tmp_path):
    path = media.write_wav(tmp_path / "song.wav", synth_song(41, 40))
    return track_ingest(path=path, owner=rights_holder, store_audio=False).track


def _session_cookie(client, user) -> tuple[bytes, bytes]:
    client.force_login(user)
    return (
        b"cookie",
        f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}".encode(),
    )


async def _open(*headers):
    communicator = WebsocketCommunicator(application, "/ws/listen/", headers=[ORIGIN, *headers])
    connected, _ = await communicator.connect()
    return communicator, connected


@pytest.fixture
def _unthrottled(settings):
    """Streaming tests send each frame as soon as the one before is answered: faster than the 10
    messages a second a browser is held to, which is not what they test."""
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "max_messages_per_s": 1000}


async def _stream(communicator, samples):
    """Send 250 ms frames, each once the server has answered the one before (`progress`); return
    (answer, frames sent when it came).

    In lock step the frame count at the answer depends on the audio alone. Sent at a fixed pace,
    a loaded machine fell behind, took the frames in batches and answered after the last one.
    """
    for sent in range(0, samples.size, FRAME):
        await communicator.send_to(bytes_data=_pcm(samples[sent : sent + FRAME]))
        # A frame past the audio limit gets no reply of its own: the answer is already on its way.
        message = json.loads(await communicator.receive_from(timeout=30))
        if message["type"] in {"match", "no_match"}:
            return message, sent // FRAME + 1
        assert message["type"] == "progress", message
    for _ in range(200):  # all sent: the answer comes when the listening time is up
        message = json.loads(await communicator.receive_from(timeout=40))
        if message["type"] in {"match", "no_match"}:
            return message, samples.size // FRAME
    raise AssertionError("no answer")


@pytest.mark.usefixtures("_unthrottled")
def test_catalog_audio_is_matched_before_the_clip_ends(catalog_song, client, rights_holder):
    clip = media.to_engine_rate(synth_song(41, 40))[8000 * 10 : 8000 * 22]  # 12 s from 0:10
    cookie = _session_cookie(client, rights_holder)

    async def scenario():
        communicator, connected = await _open(cookie)
        assert connected
        hello = json.loads(await communicator.receive_from())
        assert hello == {"type": "listening", "max_seconds": 20.0}
        answer, frames = await _stream(communicator, clip)
        closed = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return answer, frames, closed

    answer, frames, closed = asyncio.run(scenario())
    assert answer["type"] == "match", answer
    assert answer["match"]["track_id"] == catalog_song.pk and answer["match"]["title"] == catalog_song.title
    assert abs(answer["match"]["offset_s"] - 10) < 0.5
    assert answer["match"]["speed"] is None and answer["match"]["pitch_semitones"] is None  # as recorded
    assert answer["match"]["url"] == f"/tracks/{catalog_song.pk}/"
    assert frames < clip.size // FRAME, "answered only after the whole clip"
    assert answer["heard_s"] <= 6
    assert closed == {"type": "websocket.close", "code": 1000}
    saved = Recognition.objects.get(user=rights_holder)
    assert saved.source == "microphone" and saved.track_id == catalog_song.pk and saved.heard_s == answer["heard_s"]
    assert saved.speed is None and saved.pitch_semitones is None


@pytest.mark.usefixtures("_unthrottled")
def test_unknown_audio_gets_no_match(catalog_song, settings):
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "anonymous_max_audio_s": 5.0}
    unknown = media.to_engine_rate(synth_song(4242, 8))

    async def scenario():
        communicator, connected = await _open()
        assert connected
        hello = json.loads(await communicator.receive_from())
        answer, _ = await _stream(communicator, unknown)
        await communicator.disconnect()
        return hello, answer

    hello, answer = asyncio.run(scenario())
    assert hello["max_seconds"] == 5.0  # anonymous listeners get the shorter limit
    assert answer == {"type": "no_match", "heard_s": 5.0}
    assert not Recognition.objects.exists()  # anonymous: no history


def test_foreign_origin_is_refused():
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/listen/", headers=[(b"origin", b"https://evil.example")])
        connected, _ = await communicator.connect()
        return connected

    assert asyncio.run(scenario()) is False


async def _close_code(communicator) -> dict:
    while True:
        output = await communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return output


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        ({"bytes_data": b"\x00" * (65 * 1024)}, 4009, "64 KiB"),
        ({"bytes_data": b"\x00" * 333}, 4000, "whole 16-bit samples"),
        ({"text_data": "hello"}, 4000, "binary"),
    ],
)
def test_bad_frames_close_with_a_reason(payload, code, reason):
    async def scenario():
        communicator, _ = await _open()
        await communicator.receive_from()
        await communicator.send_to(**payload)
        return await _close_code(communicator)

    closed = asyncio.run(scenario())
    assert closed["code"] == code and reason in closed["reason"]


def test_too_many_messages_close_the_socket(monkeypatch):
    # The buckets' clock stands still, so no token comes back while the 30 messages are read:
    # the burst of 10 is all the socket gets, however slowly a loaded machine reads them.
    monkeypatch.setattr(limits, "time", SimpleNamespace(monotonic=lambda: 0.0, time=time.time))

    async def scenario():
        communicator, _ = await _open()
        await communicator.receive_from()
        for _ in range(30):
            await communicator.send_to(bytes_data=b"\x00\x00" * 100)
        return await _close_code(communicator)

    closed = asyncio.run(scenario())
    assert closed["code"] == 4008 and "Too many messages" in closed["reason"]


def test_a_user_holds_at_most_three_sockets(client, rights_holder):
    cookie = _session_cookie(client, rights_holder)

    async def scenario():
        opened = []
        for _ in range(3):
            communicator, connected = await _open(cookie)
            assert connected
            assert json.loads(await communicator.receive_from())["type"] == "listening"
            opened.append(communicator)
        fourth, _ = await _open(cookie)
        closed = await _close_code(fourth)
        await opened[0].disconnect()
        fifth, _ = await _open(cookie)
        reopened = json.loads(await fifth.receive_from())
        for communicator in [*opened[1:], fifth]:
            await communicator.disconnect()
        return closed, reopened

    closed, reopened = asyncio.run(scenario())
    assert closed["code"] == 4029 and "Too many listening sessions" in closed["reason"]
    assert reopened["type"] == "listening"  # closing one socket frees its slot


def test_the_redis_channel_layer_survives_an_idle_socket(settings):
    """redis-py 8's 5 s default socket timeout broke the layer's blocking read (channels_redis#422)."""
    from channels.layers import get_channel_layer

    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), timeout=6.5)
        await layer.send(channel, {"type": "ping"})
        return await asyncio.wait_for(layer.receive(channel), timeout=30)

    assert asyncio.run(scenario()) == {"type": "ping"}


def test_a_full_process_sheds_new_sockets_at_once(settings):
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "max_open_per_process": 1}

    async def scenario():
        first, _ = await _open()
        assert json.loads(await first.receive_from())["type"] == "listening"
        second, _ = await _open()
        closed = await _close_code(second)
        await first.disconnect()
        third, _ = await _open()
        reopened = json.loads(await third.receive_from())["type"]
        await third.disconnect()
        return closed, reopened

    closed, reopened = asyncio.run(scenario())
    assert closed["code"] == 4503 and "busy" in closed["reason"]
    assert reopened == "listening"


async def _open_from(address: str):
    communicator = WebsocketCommunicator(application, "/ws/listen/", headers=[ORIGIN])
    communicator.scope["client"] = (address, 40000)
    await communicator.connect()
    return communicator, json.loads(await communicator.receive_from())


def test_anonymous_sockets_are_counted_per_ipv6_64(settings):
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "anonymous_sockets": 1}

    async def scenario():
        first, opened = await _open_from("2001:db8:1:2::1")
        neighbour, refused = await _open_from("2001:db8:1:2:aaaa::2")  # same /64, another address
        other, elsewhere = await _open_from("2001:db8:1:3::1")
        for communicator in (first, neighbour, other):
            await communicator.disconnect()
        return opened, refused, elsewhere

    opened, refused, elsewhere = asyncio.run(scenario())
    assert opened["type"] == "listening" and elsewhere["type"] == "listening"
    assert (refused["type"], refused.get("code")) == ("error", 4029)


def test_session_starts_are_rate_limited_per_listener(settings):
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "anonymous_starts_burst": 3}

    async def scenario():
        answers = []
        for _ in range(4):  # one at a time: never more than one socket open
            communicator, first = await _open_from("198.51.100.4")
            answers.append(first)
            await communicator.disconnect()
        _, elsewhere = await _open_from("198.51.100.5")
        return answers, elsewhere

    answers, elsewhere = asyncio.run(scenario())
    assert [a["type"] for a in answers] == ["listening"] * 3 + ["error"]
    assert answers[3]["code"] == 4029 and "Too many listening sessions started" in answers[3]["message"]
    assert elsewhere["type"] == "listening"


def test_a_slot_is_held_until_the_work_it_started_has_finished(settings, monkeypatch):
    """A client that hangs up mid-fingerprint must not get its slot back while the work runs on."""
    settings.EARSHOT_LISTEN = {**settings.EARSHOT_LISTEN, "anonymous_sockets": 1}
    entered, go_on = threading.Event(), threading.Event()
    real_push = ListeningSession.push

    def push_held_open(self, samples):  # the real push, started only when the test says so
        entered.set()
        go_on.wait(timeout=30)
        return real_push(self, samples)

    monkeypatch.setattr(ListeningSession, "push", push_held_open)

    async def scenario():
        first, _ = await _open_from("198.51.100.6")
        await first.send_to(bytes_data=_pcm(np.zeros(FRAME)))
        assert await asyncio.to_thread(entered.wait, 10)
        await first.disconnect()
        _, while_working = await _open_from("198.51.100.6")
        go_on.set()
        for _ in range(100):  # the slot comes back once the push has returned
            await asyncio.sleep(0.05)
            third, after = await _open_from("198.51.100.6")
            await third.disconnect()
            if after["type"] == "listening":
                break
        return while_working, after

    while_working, after = asyncio.run(scenario())
    assert (while_working["type"], while_working.get("code")) == ("error", 4029)
    assert after["type"] == "listening"
