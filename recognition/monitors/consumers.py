"""The device socket: a venue's microphone feeding a device monitor, authenticated by its token.

Wire protocol (docs/api.md, "Device socket"): the client opens `/ws/monitors/<id>/device` (no
session, no Origin needed: headless clients use it too) and sends a text message
`{"type": "hello", "token": "dev_…"}` first; the server answers `{"type": "ok", …}`. Then binary
messages of little-endian int16 mono PCM at 8 kHz, ~250 ms each; the server sends
`{"type": "status", …}` every few seconds. Refusals send `{"type": "error", "code", "message"}`
and close with a 4xxx code: 4401 bad or replaced token, 4408 no hello in time, 4409 another
device took over, 4000/4009 a bad frame, 4008 too many messages or too much audio, 4029 too
many sockets waiting for their hello from one address.

The token is re-checked every `recheck_s` seconds, so rotating it cuts a socket that is open.
Frames go to the monitor's Redis stream (recognition.monitors.devices); the worker that holds
the monitor reads them from there.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import uuid

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from recognition import limits
from recognition.monitors import devices, selectors
from recognition.monitors.services import device_token_hash

BAD_TOKEN = 4401
NO_HELLO = 4408
REPLACED = 4409
TOO_FAST = 4008
TOO_MANY_SOCKETS = 4029

SAMPLE_RATE_HZ = 8000


def _group(monitor_id: int) -> str:
    return f"monitor-device-{monitor_id}"


class DeviceConsumer(AsyncWebsocketConsumer):
    hello_timeout_s = 10.0
    # How often the token is checked again (rotation cuts an open socket) and a status is sent.
    recheck_s = 5.0
    # Audio may arrive in bursts after a reconnect (the page keeps ~2 s meanwhile), but not faster
    # than real time for long: 10 s of backlog, then 1.5 x real time.
    audio_burst_s = 10.0
    audio_rate = 1.5
    # Sockets one address may hold open before their hello (each for at most `hello_timeout_s`):
    # past that, guessing or holding sockets costs the guesser, not the server.
    unauthenticated_per_address = 20

    async def connect(self) -> None:
        self.monitor_id = int(self.scope["url_route"]["kwargs"]["monitor_id"])
        self.token_hash = ""
        self.refused = False
        self.joined = False
        self.checker: asyncio.Task | None = None
        self.hello_deadline: asyncio.TimerHandle | None = None
        config = settings.EARSHOT_LISTEN
        self.max_message_bytes = config["max_message_bytes"]
        self.messages = limits.TokenBucket(config["max_messages_per_s"], burst=2 * config["max_messages_per_s"])
        self.audio = limits.TokenBucket(self.audio_rate * SAMPLE_RATE_HZ, burst=self.audio_burst_s * SAMPLE_RATE_HZ)
        self.address = f"device-addr:{(self.scope.get('client') or ['?'])[0]}"
        self.socket_id = uuid.uuid4().hex
        self.slots = limits.session_slots()
        # The slot is taken before the socket is accepted, so that sockets opened one after
        # another are counted in that order: the one past the limit is the one refused.
        self.holds_slot = await self.slots.acquire(self.address, self.socket_id, self.unauthenticated_per_address)
        await self.accept()
        self.hello_deadline = asyncio.get_running_loop().call_later(self.hello_timeout_s, self._no_hello)
        if not self.holds_slot:
            await self._refuse(TOO_MANY_SOCKETS, "too_many_sockets", "Too many device sockets from this address.")

    def _no_hello(self) -> None:
        if not self.token_hash and not self.refused:
            self.late = asyncio.ensure_future(self._refuse(NO_HELLO, "no_hello", "Send the hello message first."))

    async def _release(self) -> None:
        if self.holds_slot:
            self.holds_slot = False
            await self.slots.release(self.address, self.socket_id)

    def _stop_deadline(self) -> None:
        if self.hello_deadline is not None:  # None: the socket closed before it was accepted
            self.hello_deadline.cancel()

    async def disconnect(self, code) -> None:
        self._stop_deadline()
        await self._release()
        if self.checker is not None:
            self.checker.cancel()
        if self.joined and self.channel_layer is not None:
            self.joined = False
            await self.channel_layer.group_discard(_group(self.monitor_id), self.channel_name)

    async def _refuse(self, code: int, error: str, message: str) -> None:
        """Say why, then close: Daphne does not put close reasons on the wire."""
        self.token_hash = ""
        self.refused = True  # whatever still arrives before the close is ignored
        await self.send(text_data=json.dumps({"type": "error", "code": error, "message": message}))
        await self.close(code=code)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.refused:
            return
        if not self.token_hash:
            await self._hello(text_data)
            return
        if text_data is not None:
            return  # nothing else is expected in text; ignored, like unknown types
        if not self.messages.take():
            await self._refuse(TOO_FAST, "too_fast", "Too many messages; send one every 250 ms.")
            return
        try:
            samples = limits.frame_samples(bytes_data, self.max_message_bytes)
        except limits.FrameError as refused:
            await self._refuse(refused.code, "bad_frame", refused.reason)
            return
        if not self.audio.take(samples.size):
            await self._refuse(TOO_FAST, "too_fast", "Audio arrives faster than real time.")
            return
        if samples.size:
            await sync_to_async(devices.device_audio_append, thread_sensitive=False)(
                monitor_id=self.monitor_id, pcm=bytes_data
            )

    async def _hello(self, text_data: str | None) -> None:
        try:
            hello = json.loads(text_data or "")
            token = hello["token"] if hello.get("type") == "hello" else None
        except (ValueError, TypeError, KeyError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            await self._refuse(BAD_TOKEN, "bad_token", 'Send {"type": "hello", "token": "…"} first.')
            return
        monitor = await database_sync_to_async(selectors.monitor_for_device)(self.monitor_id)
        presented = device_token_hash(token)
        # Compared even when there is no such monitor, so timing does not tell which ids exist.
        matches = hmac.compare_digest(presented, monitor.device_token_hash if monitor is not None else "0" * 64)
        if monitor is None or not monitor.device_token_hash or not matches:
            await self._refuse(BAD_TOKEN, "bad_token", "This device token is not valid for this monitor.")
            return
        self._stop_deadline()
        await self._release()
        self.token_hash = presented
        if self.channel_layer is not None:
            # One live socket per device: the one before this is told to go.
            await self.channel_layer.group_send(
                _group(self.monitor_id), {"type": "device.replaced", "socket": self.channel_name}
            )
            await self.channel_layer.group_add(_group(self.monitor_id), self.channel_name)
            self.joined = True
        await self.send(
            text_data=json.dumps({
                "type": "ok",
                "monitor": {"id": monitor.pk, "name": monitor.name},
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "frame_ms": 250,
                "max_message_bytes": self.max_message_bytes,
            })
        )  # fmt: skip
        self.checker = asyncio.ensure_future(self._check_loop())

    async def device_replaced(self, event: dict) -> None:
        if event["socket"] != self.channel_name and self.token_hash and not self.refused:
            await self._refuse(REPLACED, "replaced", "Another device is now streaming to this monitor.")

    async def _check_loop(self) -> None:
        """Every `recheck_s`: the token still holds (else close), and a status for the page."""
        while self.token_hash:
            status = await database_sync_to_async(self._status)()
            if status is None:
                await self._refuse(BAD_TOKEN, "bad_token", "The device token was replaced or the monitor deleted.")
                return
            await self.send(text_data=json.dumps(status))
            await asyncio.sleep(self.recheck_s)

    def _status(self) -> dict | None:
        monitor = selectors.monitor_for_device(self.monitor_id)
        if monitor is None or not hmac.compare_digest(monitor.device_token_hash, self.token_hash):
            return None
        return {
            "type": "status",
            "state": monitor.state,
            "state_reason": monitor.state_reason,
            "heard_last_minute_s": selectors.heard_recently(monitor),
            "detections_today": selectors.detections_today(monitor.pk),
        }
