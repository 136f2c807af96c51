"""The microphone socket: 16-bit PCM at the engine rate in, a match (or no match) out.

Wire protocol (static/js/README.md): the browser sends binary messages of little-endian int16
mono samples at 8 kHz, one every ~250 ms; the server answers with JSON text messages `listening`,
`progress`, `match`, `no_match` or `error`, and closes with 1000 when it has answered. Breaking a
limit closes the socket with a 4xxx code and a reason the page shows.

The consumer is a thin interface: limits and framing here, recognition in
recognition.engine.listening.ListeningSession (fingerprint only the new audio, keep the votes), run off
the event loop because fingerprinting and the database lookup block.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import numpy as np
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from portal.observability import RECOGNITION_LATENCY, RECOGNITIONS, WEBSOCKET_SESSIONS
from portal.ratelimit import address_key
from recognition import limits
from recognition.engine import ListeningSession
from recognition.services import identifier, live_recognition_save, match_card

# Close codes (4000-4999 are the application's; each comes with a reason the page shows). Frame
# errors (4000, 4009) come from recognition.limits.frame_samples.
SESSION_OVER = 4080
TOO_FAST = 4008
TOO_MANY_SOCKETS = 4029
BUSY = 4503

SAMPLE_RATE_HZ = 8000


class ListenConsumer(AsyncWebsocketConsumer):
    open_sessions = 0  # in this process, for shedding load before it becomes a queue

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.user = user if user is not None and user.is_authenticated else None
        self.limits = limits.listen_limits(anonymous=self.user is None)
        address = (self.scope.get("client") or [None])[0]
        self.listener = f"user:{self.user.pk}" if self.user else f"net:{address_key(address)}"
        self.socket_id = uuid.uuid4().hex
        self.slots = limits.session_slots()
        self.holds_slot = False
        self.bucket = limits.TokenBucket(self.limits.max_messages_per_s, burst=self.limits.max_messages_per_s)
        self.session = ListeningSession(identifier())
        self.pending: list[np.ndarray] = []
        self.received_s = 0.0
        self.first_audio_at: float | None = None
        self.worker: asyncio.Task | None = None
        self.late: asyncio.Task | None = None
        self.answered = False
        self.gone = False  # closed by either side: no more work starts, nothing more is sent
        await self.accept()
        if ListenConsumer.open_sessions >= settings.EARSHOT_LISTEN["max_open_per_process"]:
            await self._refuse(BUSY, "Earshot is busy; try again in a moment.")
            return
        if not await self.slots.start(self.listener, self.limits.starts_burst, self.limits.starts_per_minute):
            await self._refuse(TOO_MANY_SOCKETS, "Too many listening sessions started; wait a minute.")
            return
        if not await self.slots.acquire(self.listener, self.socket_id, self.limits.sockets):
            await self._refuse(TOO_MANY_SOCKETS, "Too many listening sessions open; close another tab.")
            return
        self.holds_slot = True
        ListenConsumer.open_sessions += 1
        WEBSOCKET_SESSIONS.set(ListenConsumer.open_sessions)
        self.deadline = asyncio.get_running_loop().call_later(self.limits.max_session_s, self._time_up)
        await self._send({"type": "listening", "max_seconds": self.limits.max_audio_s})

    async def disconnect(self, code) -> None:
        await self._release()

    async def close(self, code=None, reason=None) -> None:
        # The slot is free as soon as we hang up and our work is done, not when the client acknowledges.
        await self._release()
        await super().close(code=code, reason=reason)

    async def _refuse(self, code: int, reason: str) -> None:
        """Close for a broken limit. Daphne does not pass close reasons on to browsers, so the
        reason also goes out as an `error` message first."""
        await self._send({"type": "error", "code": code, "message": reason})
        await self.close(code=code, reason=reason)

    async def _release(self) -> None:
        """Give the slot back once the work this socket started has finished.

        Cancelling the worker would not stop the fingerprinting thread it waits on: a client
        that hangs up mid-batch would get its slot back while the work goes on, and could keep
        any number of batches running. So the work runs out (it stops at the next batch) and
        only then is the slot free."""
        self.gone = True
        if getattr(self, "deadline", None):
            self.deadline.cancel()
        if not self.holds_slot:
            return
        self.holds_slot = False
        running = [t for t in (self.worker, self.late) if t and not t.done() and t is not asyncio.current_task()]
        if running:
            self.releasing = asyncio.ensure_future(self._release_after(running))
        else:
            await self._release_after([])

    async def _release_after(self, running: list[asyncio.Task]) -> None:
        try:
            if running:
                await asyncio.wait(running)
        finally:  # also when the loop shuts down and cancels the wait
            ListenConsumer.open_sessions -= 1
            WEBSOCKET_SESSIONS.set(ListenConsumer.open_sessions)
            await self.slots.release(self.listener, self.socket_id)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.answered or self.gone:
            return
        try:
            samples = limits.frame_samples(bytes_data, self.limits.max_message_bytes)
        except limits.FrameError as refused:
            await self._refuse(refused.code, refused.reason)
            return
        if not self.bucket.take():
            await self._refuse(TOO_FAST, "Too many messages; send one every 250 ms.")
            return
        room = self.limits.max_audio_s - self.received_s
        if room <= 0:
            return
        samples = samples[: int(room * SAMPLE_RATE_HZ)]
        self.received_s += samples.size / SAMPLE_RATE_HZ
        self.first_audio_at = self.first_audio_at or time.perf_counter()
        self.pending.append(samples)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._recognise())

    async def _recognise(self) -> None:
        """Feed pending audio to the session, one batch at a time, until it answers."""
        while self.pending and not self.answered and not self.gone:
            batch = np.concatenate(self.pending)
            self.pending.clear()
            # Not thread-sensitive: sessions fingerprint in parallel threads (numpy releases the
            # GIL), each with its own database connection, instead of queueing on one thread.
            match = await database_sync_to_async(self.session.push, thread_sensitive=False)(batch)
            if match is not None:
                await self._answer(match)
                return
            await self.slots.refresh(self.listener, self.socket_id)
            await self._send({"type": "progress", "heard_s": round(self.session.heard_s, 2)})
        if not self.answered and not self.gone and self.received_s >= self.limits.max_audio_s - 1e-6:
            await self._answer(await database_sync_to_async(self.session.finish, thread_sensitive=False)())

    def _time_up(self) -> None:
        if not self.answered and not self.gone:
            self.late = asyncio.ensure_future(self._finish_late())

    async def _finish_late(self) -> None:
        if self.worker and not self.worker.done():
            await asyncio.wait([self.worker], timeout=5)
        if not self.answered:
            finished = await database_sync_to_async(self.session.finish, thread_sensitive=False)()
            await self._answer(finished, code=SESSION_OVER)

    async def _answer(self, match, code: int = 1000) -> None:
        if self.answered:
            return
        self.answered = True
        latency_ms = round((time.perf_counter() - (self.first_audio_at or time.perf_counter())) * 1000, 1)
        heard_s = round(self.session.heard_s, 2)
        RECOGNITION_LATENCY.labels("microphone").observe(latency_ms / 1000)
        RECOGNITIONS.labels("microphone", "match" if match else "no_match").inc()
        details = await database_sync_to_async(match_card)(match) if match else None
        if self.user is not None:
            await database_sync_to_async(live_recognition_save)(
                user=self.user, match=match, heard_s=heard_s, latency_ms=latency_ms
            )
        if details is None:
            await self._send({"type": "no_match", "heard_s": heard_s})
        else:
            await self._send({"type": "match", "match": details, "heard_s": heard_s, "latency_ms": latency_ms})
        reason = "Listening time is over." if code == SESSION_OVER else ""
        await self.close(code=code, reason=reason)

    async def _send(self, message: dict) -> None:
        if not self.gone:
            await self.send(text_data=json.dumps(message))
