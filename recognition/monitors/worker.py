"""The monitor worker: takes monitors by lease, listens to each in its own thread, writes detections.

One process runs many monitors. Each monitor has a runner thread that reads its source (ffmpeg
decoding a stream, or a device's frames from Redis) and hands the audio to the engine's
`StreamMonitor`. Fingerprinting, lookups and database writes run on a small shared pool, so a
worker holds a handful of database connections however many monitors it runs, and one monitor's
slow source never holds up another's. The main thread renews leases, takes free monitors and
stops runners whose lease is gone (paused, deleted, or taken by another worker after a stall)
(docs/decisions.md, MonitorWorker).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from recognition.engine import MonitorEvent, Sighting, StreamMonitor, audio
from recognition.engine.monitoring.history import MinuteChunker
from recognition.monitors import leases, retention, retroactive, services
from recognition.monitors.devices import DeviceSource
from recognition.monitors.models import Detection, Monitor
from recognition.monitors.sources import SourceError, StreamSource, backoff_s
from recognition.services import identifier

__all__ = ["MonitorWorker", "Runner"]

log = logging.getLogger("earshot.monitors")

SAMPLE_RATE_HZ = 8000
# A new play of a track whose row is open is that row going on when its track position is within
# this of where the row's song would be (a replay of the song differs by far more).
CARRIES_ON_S = 3.0
READ_SAMPLES = SAMPLE_RATE_HZ // 2  # half a second per read: the engine decides about every second
CATCH_UP_MAX_S = 30.0  # the longest burst read before the clock is set (Icecast sends ~1-10 s)
RING_S = 40.0  # audio kept for evidence excerpts; a detection is made well within it
# A play last written this recently is resumed as heard until now (a takeover takes <= 25 s, a
# reconnection a few seconds); older ones resume as they were and end unless heard at once.
UNHEARD_S = 60.0
EVIDENCE_BEFORE_S = 2.0
EVIDENCE_AFTER_S = 8.0
HEARD_REPORT_S = 5.0
# A source that played in the last 10 minutes and now answers like a dead one (Icecast answers 404
# while a mount's own source reconnects) is retried like a dropped one before the monitor fails
# (docs/decisions.md, RECENTLY_PLAYING_S).
RECENTLY_PLAYING_S = 600.0
# How often a worker deletes what is past its monitors' retention (minutes kept, evidence files).
PRUNE_EVERY_S = 3600.0


class Runner(threading.Thread):
    """Listen to one monitor until told to stop: connect, recognise, reconnect with backoff."""

    def __init__(self, worker: MonitorWorker, monitor: Monitor):
        super().__init__(name=f"monitor-{monitor.pk}", daemon=True)
        self.worker = worker
        self.monitor = monitor
        self.stopping = threading.Event()
        self._source: StreamSource | DeviceSource | None = None
        self.open: dict[tuple, Detection] = {}  # a play's key (_key) -> its open detection
        self.unheard: dict[tuple, Sighting] = {}  # resumed plays not heard again yet, as given
        self.heard: deque[tuple[float, float]] = deque()  # (monotonic time, seconds) for "last minute"
        self.last_report = 0.0
        self.last_audio_at: float | None = None  # monotonic

    def stop(self) -> None:
        self.stopping.set()
        source = self._source
        if source is not None:
            source.close()

    def _db(self, fn, *args, **kwargs):
        """Run database and engine work on the worker's pool (bounded connections)."""
        return self.worker.pool.submit(self.worker.in_db, fn, *args, **kwargs).result()

    def run(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            try:
                self._source = self._connect()
                heard_any = self._listen(self._source)
                if heard_any:
                    attempt = 0
            except SourceError as error:
                recently = self.last_audio_at is not None and time.monotonic() - self.last_audio_at < RECENTLY_PLAYING_S
                if error.permanent and not recently:
                    self._set_state(Monitor.State.FAILED, error.message)
                    try:
                        self._db(self._close_all)
                    finally:
                        self.worker.release(self.monitor.pk)
                    return
                waiting = error.code == "device_offline"
                self._set_state(Monitor.State.WAITING if waiting else Monitor.State.RECONNECTING, error.message)
            except Exception as error:  # the database restarting, or a bug: log it, retry soon
                log.exception("monitor %s: runner error", self.monitor.pk)
                self._set_state(Monitor.State.RECONNECTING, f"Internal error ({type(error).__name__}); retrying.")
                attempt = min(attempt, 1)  # not the source's fault: no long backoff once it is back
            finally:
                if self._source is not None:
                    self._source.close()
                    self._source = None
            if self.monitor.kind == Monitor.Kind.DEVICE and not self.stopping.is_set():
                continue  # a device source waits by itself; no backoff needed
            self.stopping.wait(backoff_s(attempt))
            attempt += 1

    def _connect(self) -> StreamSource | DeviceSource:
        if self.monitor.kind == Monitor.Kind.DEVICE:
            return DeviceSource(self.monitor.pk)
        return StreamSource(
            self.monitor.source_url,
            allow_private=settings.EARSHOT_MONITOR_PRIVATE_SOURCES,
            sample_rate_hz=SAMPLE_RATE_HZ,
        )

    def _set_state(self, state: str, reason: str = "") -> None:
        if self.stopping.is_set():
            return
        try:
            self._db(
                services.monitor_set_state,
                monitor_id=self.monitor.pk,
                worker_id=self.worker.id,
                state=state,
                reason=reason,
            )
        except Exception:  # the database is away; the state is written on the next change
            log.warning("monitor %s: state %s not recorded", self.monitor.pk, state, exc_info=True)

    def _listen(self, source) -> bool:
        """Feed one connection's audio to a fresh StreamMonitor; return whether any audio came."""
        ring = _Ring(int(RING_S * SAMPLE_RATE_HZ))
        evidence: list[tuple[int, float, float]] = []  # (detection id, from s, to s), waiting for audio
        first = self._catch_up(source)
        if first is None:
            return False
        samples, clock = first
        engine = StreamMonitor(identifier(), resume=self._db(self._resume, clock), retain=True)
        minutes = MinuteChunker()  # what it heard, kept for retroactive scans
        self._set_state(Monitor.State.RUNNING)
        try:
            while not self.stopping.is_set():
                if samples.size:
                    ring.push(samples)
                    clock.observe(self._arrival(source), engine.heard_s + samples.size / SAMPLE_RATE_HZ)
                    self._hints(source, clock)
                    self.last_audio_at = time.monotonic()
                    events = self._db(self._push, engine, samples, clock, minutes)
                    for detection_id, start_s in events:
                        evidence.append((detection_id, start_s - EVIDENCE_BEFORE_S, start_s + EVIDENCE_AFTER_S))
                    heard_s = engine.heard_s
                    ready = [item for item in evidence if item[2] <= heard_s]
                    for item in ready:
                        evidence.remove(item)
                        self._db(self._save_evidence, item[0], ring.slice(item[1], item[2], heard_s))
                    self._note_heard(samples.size / SAMPLE_RATE_HZ)
                samples = source.read(READ_SAMPLES)
        finally:
            try:
                self._db(self._retain, engine, clock, minutes, final=True)
            except Exception:  # the database is away: the last partial minute is not kept
                log.warning("monitor %s: last minute not retained", self.monitor.pk, exc_info=True)
        return True

    def _catch_up(self, source) -> tuple[np.ndarray, services.StreamClock] | None:
        """Read what the source has at once (a server's burst on connect, a device's last seconds),
        and set the clock from it: the last of it is on air now, the first that much earlier.

        The clock must be right before the engine resumes the plays left open, whose times are
        turned into this stream's seconds."""
        parts: list[np.ndarray] = []
        total = 0
        while not self.stopping.is_set() and total < CATCH_UP_MAX_S * SAMPLE_RATE_HZ:
            samples = source.read(READ_SAMPLES)
            if samples.size:
                parts.append(samples)
                total += samples.size
            if parts and samples.size < READ_SAMPLES:
                break  # caught up: the source hands out audio as it comes now
        if not parts:
            return None
        arrival = self._arrival(source)
        clock = services.StreamClock(origin=arrival - timedelta(seconds=total / SAMPLE_RATE_HZ))
        self._hints(source, clock)
        return np.concatenate(parts), clock

    @staticmethod
    def _hints(source, clock: services.StreamClock) -> None:
        """Tighten the clock with what the source knows of its airtime (an HLS playlist's dates)."""
        hints = getattr(source, "clock_hints", None)
        now = timezone.now()
        for earliest, latest in hints() if hints else ():
            clock.bound(
                None if earliest is None else datetime.fromtimestamp(earliest, UTC),
                datetime.fromtimestamp(latest, UTC),
                now=now,
            )

    @staticmethod
    def _arrival(source) -> datetime:
        """When the last sample read reached us (a device's frames carry the server's time)."""
        arrival_s = getattr(source, "arrival_s", None)
        return datetime.fromtimestamp(arrival_s, UTC) if arrival_s is not None else timezone.now()

    def _resume(self, clock: services.StreamClock) -> list[Sighting]:
        """The open detections of this monitor, as sightings on the new stream's clock.

        The seconds between a play's last write and this stream's start were not heard (a
        worker died, the station dropped), not heard without the song: a play last written up
        to `UNHEARD_S` ago is resumed as if heard until now, its track position moved on by the
        time that passed, so the song carrying on continues it. If it does not come back, it is
        closed where it was last written."""
        sightings = []
        self.open, self.unheard = {}, {}
        for d in Detection.objects.filter(monitor_id=self.monitor.pk, open=True):
            if d.track_id is None:  # its track was deleted while it played
                continue
            sighting = Sighting(
                track_id=d.track_id,
                start_s=clock.stream_s(d.started_at),
                end_s=clock.stream_s(d.ended_at),
                offset_start_s=d.offset_start_s,
                offset_end_s=d.offset_end_s,
                confidence=d.confidence,
                speed=d.speed,
            )
            if 0 < -sighting.end_s <= UNHEARD_S:
                passed_s = -sighting.end_s * (d.speed or 1.0)
                sighting = dataclasses.replace(sighting, end_s=0.0, offset_end_s=d.offset_end_s + passed_s)
                self.unheard[_key(sighting)] = sighting
            self.open[_key(sighting)] = d
            sightings.append(sighting)
        return sightings

    def _push(
        self, engine: StreamMonitor, samples: np.ndarray, clock: services.StreamClock, minutes: MinuteChunker
    ) -> list[tuple[int, float]]:
        """Give the engine new audio and write what it says; return (detection id, start s) of new plays."""
        started = []
        for event in engine.push(samples):
            detection = self._apply(event, clock)
            if detection is not None and event.kind == "started" and not detection.evidence:
                started.append((detection.pk, event.sighting.start_s))
        self._retain(engine, clock, minutes)
        return started

    def _retain(
        self, engine: StreamMonitor, clock: services.StreamClock, minutes: MinuteChunker, *, final: bool = False
    ) -> None:
        """Keep each minute of the stream's peaks once it is complete (`final`: the rest too)."""
        heard_frames = engine.heard_s * engine.engine.params.frames_per_second
        complete = minutes.add(engine.take_peaks(), heard_frames)
        if final:
            complete += minutes.flush()
        retention.retained_minutes_write(monitor_id=self.monitor.pk, minutes=complete, clock=clock)

    def _apply(self, event: MonitorEvent, clock: services.StreamClock) -> Detection | None:
        """Write one event. A play is known by its track, start and offset there (the engine keeps
        them for all its events); a replay of a track may start before the play before it ends."""
        sighting = event.sighting
        key = _key(sighting)
        current = self.open.get(key)
        try:
            if event.kind == "ended":
                if current is not None:
                    never_came_back = self.unheard.pop(key, None) == sighting
                    services.detection_end(
                        detection=current, sighting=None if never_came_back else sighting, clock=clock
                    )
                    del self.open[key]
                return current
            self.unheard.pop(key, None)
            if current is None:
                for other_key, other in list(self.open.items()):
                    if other.track_id != sighting.track_id:
                        continue
                    del self.open[other_key]  # one open play per track (a constraint)
                    self.unheard.pop(other_key, None)
                    if _carries_on(other, sighting, clock):
                        current = other
                    else:
                        services.detection_end(detection=other)
                if current is None:
                    current = services.detection_start(monitor=self.monitor, sighting=sighting, clock=clock)
                else:
                    services.detection_extend(detection=current, sighting=sighting, clock=clock)
                self.open[key] = current
            else:
                services.detection_extend(detection=current, sighting=sighting, clock=clock)
            return current
        except Detection.DoesNotExist:  # the track was deleted while it played
            return None

    def _close_all(self) -> None:
        for detection in self.open.values():
            services.detection_end(detection=detection)
        self.open = {}

    def _save_evidence(self, detection_id: int, samples: np.ndarray) -> None:
        if samples.size < SAMPLE_RATE_HZ:
            return
        try:
            ogg = audio.encode_opus(samples, sample_rate_hz=SAMPLE_RATE_HZ)
        except audio.AudioError:
            log.warning("monitor %s: evidence for detection %s not encoded", self.monitor.pk, detection_id)
            return
        detection = Detection.objects.filter(pk=detection_id).first()
        if detection is not None and not detection.evidence:
            detection.evidence.save("evidence.ogg", ContentFile(ogg), save=False)
            Detection.objects.filter(pk=detection_id).update(evidence=detection.evidence.name)

    def _note_heard(self, seconds: float) -> None:
        now = time.monotonic()
        self.heard.append((now, seconds))
        while self.heard and self.heard[0][0] < now - 60:
            self.heard.popleft()
        if now - self.last_report >= HEARD_REPORT_S:
            self.last_report = now
            total = sum(s for _, s in self.heard)
            self._db(
                services.monitor_heard, monitor_id=self.monitor.pk, worker_id=self.worker.id, heard_last_minute_s=total
            )


def _carries_on(detection: Detection, sighting: Sighting, clock: services.StreamClock) -> bool:
    """Whether a play the engine calls new is the open `detection` going on: the same track, begun
    within `UNHEARD_S` of the detection's last write, where the detection's song would be by then.

    The engine continues a play it was handed (resumed after a takeover or a reconnection) when it
    hears it again at the alignment it expects; when the two clocks disagree by more than it
    allows, it starts a play instead, and the log would show one play as two rows. Row by row,
    the track position tells a play that carries on from a replay of the song.
    """
    gap_s = (clock.at(sighting.start_s) - detection.ended_at).total_seconds()
    if gap_s > UNHEARD_S:  # the horizon of resuming: a takeover takes ~25 s
        return False
    expected_s = detection.offset_end_s + gap_s * (detection.speed or 1.0)
    return abs(sighting.offset_start_s - expected_s) <= CARRIES_ON_S


def _key(sighting: Sighting) -> tuple:
    return (sighting.track_id, round(sighting.start_s, 3), round(sighting.offset_start_s, 2))


class _Ring:
    """The last `size` samples heard, addressable by stream second."""

    def __init__(self, size: int):
        self._buffer = np.zeros(size, np.int16)
        self._size = size
        self._total = 0

    def push(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, np.int16)[-self._size :]
        keep = self._size - samples.size
        self._buffer[:keep] = self._buffer[samples.size :]
        self._buffer[keep:] = samples
        self._total += samples.size

    def slice(self, from_s: float, to_s: float, heard_s: float) -> np.ndarray:
        """Samples from `from_s` to `to_s` (stream seconds), clipped to what is still kept."""
        first_kept = max(0, self._total - self._size)
        start = max(first_kept, int(from_s * SAMPLE_RATE_HZ))
        end = min(self._total, int(to_s * SAMPLE_RATE_HZ))
        if end <= start:
            return np.empty(0, np.int16)
        offset = self._size - self._total  # buffer index of stream sample 0
        return self._buffer[start + offset : end + offset].copy()


class MonitorWorker:
    """Run monitors until `stop` is set: lease, heartbeat, start and stop runners."""

    def __init__(self, *, capacity: int | None = None, threads: int = 4, poll_s: float = 5.0):
        self.id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.capacity = capacity if capacity is not None else settings.EARSHOT_MONITORS_PER_WORKER
        self.poll_s = poll_s
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="monitor-db")
        self.runners: dict[int, Runner] = {}
        self._lock = threading.Lock()
        self._released: set[int] = set()
        self._pruned_at = -PRUNE_EVERY_S  # monotonic; the first round prunes

    @staticmethod
    def in_db(fn, *args, **kwargs):
        """Call `fn` on a pool thread, keeping the thread's database connection between calls.

        Django's request cycle would close it after every call (CONN_MAX_AGE 0): a connection
        per engine push, several a second per worker. A connection that broke (a restarted
        PostgreSQL) is closed after the failed call, and the next call opens a new one."""
        try:
            return fn(*args, **kwargs)
        except Exception:
            if connection.connection is not None and not connection.is_usable():
                connection.close()
            raise

    def release(self, monitor_id: int) -> None:
        """A runner gave up its monitor (failed): free the lease for a later retry."""
        with self._lock:
            self._released.add(monitor_id)

    def run(self, stop: threading.Event) -> None:
        log.info("monitor worker %s: up, capacity %d", self.id, self.capacity)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the database may be restarting: keep the runners, try again
                    log.exception("monitor worker %s: lease round failed", self.id)
                    self.in_db(lambda: None)
                stop.wait(self.poll_s)
        finally:
            self.shutdown()

    def tick(self) -> None:
        """One round: renew leases, drop lost monitors, take free ones."""
        with self._lock:
            released, self._released = self._released, set()
        for monitor_id in released:
            runner = self.runners.pop(monitor_id, None)
            if runner is not None:
                runner.stop()
        if released:
            self.pool.submit(self.in_db, leases.leases_release, worker_id=self.id, monitor_ids=list(released)).result()
        for monitor_id, runner in list(self.runners.items()):
            if not runner.is_alive():
                del self.runners[monitor_id]
        held_ids = list(self.runners)
        held = self.pool.submit(self.in_db, leases.leases_renew, worker_id=self.id, monitor_ids=held_ids).result()
        for monitor_id in set(held_ids) - held:
            log.info("monitor worker %s: lost monitor %s", self.id, monitor_id)
            self.runners.pop(monitor_id).stop()
        self.pool.submit(self.in_db, services.detections_close_paused).result()
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = time.monotonic()
            self.pool.submit(self.in_db, self._prune)  # in the background: a lease round must not wait
        taken = self.pool.submit(
            self.in_db, leases.leases_take, worker_id=self.id, limit=self.capacity - len(self.runners)
        ).result()
        if taken:
            monitors = self.pool.submit(self.in_db, lambda: list(Monitor.objects.filter(id__in=taken))).result()
            for monitor in monitors:
                runner = Runner(self, monitor)
                self.runners[monitor.pk] = runner
                runner.start()
            log.info("monitor worker %s: took %s", self.id, taken)

    def _prune(self) -> None:
        try:
            pruned = retention.retention_prune()
            if retroactive.retroactive_scans_requeue():
                log.warning("monitor worker %s: queued retroactive scans that waited too long", self.id)
        except Exception:
            log.exception("monitor worker %s: pruning failed", self.id)
            return
        if pruned.minutes or pruned.evidence_files:
            log.info("monitor worker %s: pruned %d minutes, %d evidence files", self.id, *pruned)

    def shutdown(self) -> None:
        """Stop every runner and give the leases back, so another worker carries on at once.

        Open detections stay open: the worker that takes the monitor continues them."""
        runners = list(self.runners.values())
        for runner in runners:
            runner.stop()
        for runner in runners:
            runner.join(timeout=10)
        try:
            self.pool.submit(
                self.in_db, leases.leases_release, worker_id=self.id, monitor_ids=list(self.runners)
            ).result()
        except Exception:
            log.exception("monitor worker %s: could not release leases", self.id)
        self.runners = {}
        self._close_connections()
        self.pool.shutdown(wait=True)

    def _close_connections(self) -> None:
        """Close each pool thread's database connection (one task per thread, held at a barrier)."""
        threads = len(getattr(self.pool, "_threads", ())) or 1
        barrier = threading.Barrier(threads, timeout=10)

        def close() -> None:
            connection.close()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()

        for future in [self.pool.submit(close) for _ in range(threads)]:
            with contextlib.suppress(Exception):
                future.result(timeout=15)
