"""The device socket through Channels' WebsocketCommunicator, with the real database, Redis and channel layer."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from portal.asgi import application
from recognition import limits
from recognition.monitors import devices, services
from recognition.monitors.consumers import DeviceConsumer
from recognition.monitors.models import Monitor

pytestmark = pytest.mark.django_db(transaction=True)
FRAME = 2000  # 250 ms at 8 kHz


def _frame(seed: int = 0, samples: int = FRAME) -> bytes:
    return np.random.default_rng(seed).integers(-3000, 3000, samples).astype("<i2").tobytes()


def _stream(monitor_id: int) -> list[bytes]:
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    return [fields[b"pcm"] for _id, fields in client.xrange(devices.device_stream_key(monitor_id))]


async def _open(monitor_id: int, *headers):
    """A socket with no Origin and no session, as a headless client opens it."""
    communicator = WebsocketCommunicator(application, f"/ws/monitors/{monitor_id}/device", headers=list(headers))
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _hello(communicator, token: str) -> dict:
    await communicator.send_to(text_data=json.dumps({"type": "hello", "token": token}))
    return json.loads(await communicator.receive_from(timeout=15))


async def _refused(communicator) -> tuple[dict, int]:
    """The error message and the close code that follows it."""
    error = json.loads(await communicator.receive_from(timeout=10))
    while error["type"] == "status":
        error = json.loads(await communicator.receive_from(timeout=10))
    closed = await communicator.receive_output(timeout=15)
    assert closed["type"] == "websocket.close"
    return error, closed["code"]


def test_frames_from_a_good_token_land_in_the_redis_stream(device_monitor):
    monitor, token = device_monitor
    frames = [_frame(n) for n in range(6)]

    async def scenario():
        communicator = await _open(monitor.pk)
        ok = await _hello(communicator, token)
        status = json.loads(await communicator.receive_from(timeout=5))
        for frame in frames:
            await communicator.send_to(bytes_data=frame)
        await asyncio.sleep(0.3)
        await communicator.disconnect()
        return ok, status

    ok, status = asyncio.run(scenario())
    assert ok["type"] == "ok" and ok["monitor"] == {"id": monitor.pk, "name": "Corner bar"}
    assert ok["sample_rate_hz"] == 8000
    assert status == {
        "type": "status", "state": "starting", "state_reason": "", "heard_last_minute_s": 0.0, "detections_today": 0,
    }  # fmt: skip
    assert _stream(monitor.pk) == frames


@pytest.mark.parametrize(
    "hello",
    [
        {"type": "hello", "token": "dev_wrong"},
        {"type": "hello"},
        {"type": "nope", "token": "x"},
        "not json",
    ],
)
def test_a_bad_hello_is_refused_with_4401(device_monitor, hello):
    monitor, _ = device_monitor

    async def scenario():
        communicator = await _open(monitor.pk)
        await communicator.send_to(text_data=hello if isinstance(hello, str) else json.dumps(hello))
        refused = await _refused(communicator)
        await communicator.disconnect()
        return refused

    error, code = asyncio.run(scenario())
    assert code == 4401 and error["type"] == "error" and error["code"] == "bad_token" and error["message"]
    assert _stream(monitor.pk) == []


def test_another_monitors_token_and_audio_before_hello_are_refused(device_monitor, monitor_user):
    monitor, token = device_monitor
    other, _ = services.monitor_create(owner=monitor_user, name="Other", kind=Monitor.Kind.DEVICE)

    async def scenario():
        wrong_monitor = await _open(other.pk)
        first = await _hello(wrong_monitor, token)
        closed = await wrong_monitor.receive_output(timeout=5)
        audio_first = await _open(monitor.pk)
        await audio_first.send_to(bytes_data=_frame())
        second = await _refused(audio_first)
        return first, closed["code"], second

    first, first_code, (error, code) = asyncio.run(scenario())
    assert first["code"] == "bad_token" and first_code == 4401
    assert code == 4401 and error["code"] == "bad_token"
    assert _stream(monitor.pk) == [] and _stream(other.pk) == []


def test_rotating_the_token_cuts_the_open_socket(device_monitor, monkeypatch):
    monitor, token = device_monitor
    monkeypatch.setattr(DeviceConsumer, "recheck_s", 0.3)

    async def scenario():
        communicator = await _open(monitor.pk)
        assert (await _hello(communicator, token))["type"] == "ok"
        await communicator.send_to(bytes_data=_frame(1))
        await asyncio.sleep(0.5)
        assert await communicator.receive_nothing(timeout=0.1) is False  # status messages, not a close
        new = await database_sync_to_async(services.device_token_rotate)(monitor=monitor)
        refused = await _refused(communicator)
        again = await _open(monitor.pk)
        old_token = await _hello(again, token)
        fresh = await _open(monitor.pk)
        new_token = await _hello(fresh, new)
        await fresh.disconnect()
        return refused, old_token, new_token

    (error, code), old_token, new_token = asyncio.run(scenario())
    assert code == 4401 and error["code"] == "bad_token" and "replaced" in error["message"]
    assert old_token["type"] == "error" and new_token["type"] == "ok"


def test_a_new_device_socket_replaces_the_old_one(device_monitor):
    monitor, token = device_monitor

    async def scenario():
        first = await _open(monitor.pk)
        assert (await _hello(first, token))["type"] == "ok"
        second = await _open(monitor.pk)
        assert (await _hello(second, token))["type"] == "ok"
        refused = await _refused(first)
        await second.send_to(bytes_data=_frame(7))
        await asyncio.sleep(0.3)
        await second.disconnect()
        return refused

    error, code = asyncio.run(scenario())
    assert code == 4409 and error["code"] == "replaced"
    assert _stream(monitor.pk) == [_frame(7)]


@pytest.mark.parametrize(
    ("frames", "expected_code"),
    [
        ([_frame(n) for n in range(40)], 4008),  # 40 messages at once: past the burst of 20
        ([_frame(n, 32000) for n in range(4)], 4008),  # 16 s of audio at once: faster than real time
        ([b"\x00" * 4001], 4000),  # half a sample
        ([b"\x00" * (64 * 1024 + 2)], 4009),  # past the message limit
    ],
    ids=["too-many-messages", "too-much-audio", "odd-bytes", "too-large"],
)
def test_floods_and_bad_frames_close_the_socket(device_monitor, frames, expected_code):
    monitor, token = device_monitor

    async def scenario():
        communicator = await _open(monitor.pk)
        assert (await _hello(communicator, token))["type"] == "ok"
        for frame in frames:
            await communicator.send_to(bytes_data=frame)
        refused = await _refused(communicator)
        await communicator.disconnect()
        return refused

    error, code = asyncio.run(scenario())
    assert code == expected_code and error["type"] == "error" and error["message"]
    assert len(_stream(monitor.pk)) < len(frames)


def test_silence_is_closed_after_the_hello_timeout(device_monitor, monkeypatch):
    monitor, _ = device_monitor
    monkeypatch.setattr(DeviceConsumer, "hello_timeout_s", 0.3)

    async def scenario():
        communicator = await _open(monitor.pk)
        refused = await _refused(communicator)
        await communicator.disconnect()
        return refused

    error, code = asyncio.run(scenario())
    assert code == 4408 and error["code"] == "no_hello"


def test_a_stream_monitor_has_no_device_socket(monitor_user):
    stream = Monitor.objects.create(owner=monitor_user, name="radio", source_url="https://radio.example/a.mp3")

    async def scenario():
        communicator = await _open(stream.pk)
        first = await _hello(communicator, "dev_anything")
        await communicator.disconnect()
        return first

    assert asyncio.run(scenario())["code"] == "bad_token"


def test_one_address_holds_few_sockets_before_their_hello(device_monitor, monkeypatch):
    monitor, token = device_monitor
    monkeypatch.setattr(DeviceConsumer, "unauthenticated_per_address", 3)
    # Not about the hello's deadline: on a loaded machine opening five sockets took longer than it.
    monkeypatch.setattr(DeviceConsumer, "hello_timeout_s", 120.0)
    # The third socket's slot is slow to come (a loaded Redis): it is still counted before the
    # fourth socket's, so the fourth is the one refused.
    calls = []
    acquire = limits.SessionSlots.acquire

    async def slow_third(self, listener, socket_id, limit):
        calls.append(socket_id)
        if len(calls) == 3:
            await asyncio.sleep(0.5)
        return await acquire(self, listener, socket_id, limit)

    monkeypatch.setattr(limits.SessionSlots, "acquire", slow_third)

    async def scenario():
        waiting = [await _open(monitor.pk) for _ in range(3)]
        extra = await _open(monitor.pk)
        refused = await _refused(extra)
        await extra.disconnect()
        # A hello frees its slot: the next socket from the address is welcome.
        assert (await _hello(waiting[0], token))["type"] == "ok"
        after = await _open(monitor.pk)
        assert await after.receive_nothing(timeout=0.3)
        for communicator in [*waiting, after]:
            await communicator.disconnect()
        return refused

    error, code = asyncio.run(scenario())
    assert code == 4029 and error["code"] == "too_many_sockets"


def test_nothing_counts_after_a_refusal(device_monitor):
    monitor, token = device_monitor

    async def scenario():
        communicator = await _open(monitor.pk)
        await communicator.send_to(text_data=json.dumps({"type": "hello", "token": "dev_wrong"}))
        await communicator.send_to(text_data=json.dumps({"type": "hello", "token": token}))
        await communicator.send_to(bytes_data=_frame())
        first = json.loads(await communicator.receive_from(timeout=5))
        closed = await communicator.receive_output(timeout=15)
        quiet = await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()
        return first, closed, quiet

    first, closed, quiet = asyncio.run(scenario())
    assert first["code"] == "bad_token" and closed["code"] == 4401 and quiet
    assert _stream(monitor.pk) == []
