"""Monitor fixtures: a monitor-role user with a device monitor, detections made through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from recognition.engine import Sighting
from recognition.monitors import services
from recognition.monitors.models import Monitor
from tests.api.conftest import _generous_throttle  # noqa: F401 - the API tests' throttle, here too


@pytest.fixture
def monitor_user(make_user):
    return make_user(Role.MONITOR, username="guard")


@pytest.fixture
def device_monitor(monitor_user):
    """(monitor, token) of a device monitor owned by `monitor_user`."""
    return services.monitor_create(owner=monitor_user, name="Corner bar", kind=Monitor.Kind.DEVICE)


@pytest.fixture
def detect():
    """detect(monitor, track, minutes_ago=0, length_s=30, open=False): a play written by the services,
    as the worker writes it."""

    def make(monitor, track, *, minutes_ago: float = 0, length_s: float = 30, open: bool = False):
        clock = services.StreamClock(origin=timezone.now() - timedelta(minutes=minutes_ago, seconds=length_s))
        sighting = Sighting(track.pk, 0.0, length_s, 12.0, 12.0 + length_s, 0.9999, 1.0)
        detection = services.detection_start(monitor=monitor, sighting=sighting, clock=clock)
        if not open:
            detection = services.detection_end(detection=detection)
        return detection

    return make
