"""A small world of plays: two rights holders' tracks heard by a monitor, listens, uploads and API clips."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from accounts.models import Role
from catalog.models import Artist
from recognition.models import Play, Recognition
from recognition.monitors.models import Detection, Monitor
from tests.factories import TrackFactory

DAY = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)


@dataclass
class World:
    holder_a: object
    holder_b: object
    monitor_owner: object
    listener: object
    t1: object  # holder_a's
    t2: object  # holder_a's
    t3: object  # holder_b's
    radio: Monitor
    disputed: Detection


def detect(monitor, track, started_at, seconds, **extra) -> Detection:
    return Detection.objects.create(
        monitor=monitor, track=track, title=track.title, started_at=started_at,
        ended_at=started_at + dt.timedelta(seconds=seconds), offset_start_s=0, offset_end_s=seconds,
        confidence=0.999, open=False, **extra,
    )  # fmt: skip


def play(user, track, source, heard_at, seconds, **change) -> Play:
    recognition = Recognition.objects.create(user=user, source=source, status="done", track=track, **change)
    return Play.objects.create(
        recognition=recognition, track=track, source=source, heard_at=heard_at, played_s=seconds, **change
    )


@pytest.fixture
def world(make_user) -> World:
    holder_a = make_user(Role.RIGHTS_HOLDER, username="label_a")
    holder_b = make_user(Role.RIGHTS_HOLDER, username="label_b")
    monitor_owner = make_user(Role.MONITOR, username="guard-7731")
    listener = make_user(Role.LISTENER, username="listener-5521")
    t1 = TrackFactory(owner=holder_a, title="Harbour Lights")
    t1.artists.add(
        Artist.objects.create(owner=holder_a, name="The Examples"), Artist.objects.create(owner=holder_a, name="Ada")
    )
    t2 = TrackFactory(owner=holder_a, title="Copper Sky")
    t3 = TrackFactory(owner=holder_b, title="Other Label Song")
    radio = Monitor.objects.create(owner=monitor_owner, name="Radio One", source_url="https://secret-7731.example/live")
    detect(radio, t1, DAY + dt.timedelta(hours=9), 180)
    disputed = detect(radio, t1, DAY + dt.timedelta(hours=10), 200, disputed=True)
    detect(radio, t1, DAY + dt.timedelta(days=1, hours=8), 120)
    detect(radio, t1, DAY - dt.timedelta(days=40), 100)  # before the range
    detect(radio, t3, DAY + dt.timedelta(hours=11), 150)
    play(listener, t1, "microphone", DAY + dt.timedelta(hours=12), 6.5)
    play(listener, t1, "api", DAY + dt.timedelta(days=2), 8.0)
    play(listener, t2, "upload", DAY + dt.timedelta(hours=13), 30.0)
    play(listener, t2, "upload", DAY + dt.timedelta(days=3), 45.0, speed=1.1, pitch_semitones=1.65)  # a sped-up edit
    play(listener, t3, "upload", DAY + dt.timedelta(days=3), 20.0)
    assert timezone.is_aware(DAY)
    return World(holder_a, holder_b, monitor_owner, listener, t1, t2, t3, radio, disputed)
