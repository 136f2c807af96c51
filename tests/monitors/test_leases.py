"""Leases against the real PostgreSQL: two workers never hold one monitor, and a dead one's expire."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role
from recognition.monitors import leases
from recognition.monitors.models import Monitor

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def monitors(make_user):
    owner = make_user(Role.MONITOR)
    return [Monitor.objects.create(owner=owner, name=f"m{i}", source_url=f"http://radio.example/{i}") for i in range(5)]


def test_workers_split_monitors_without_sharing(monitors):
    a = leases.leases_take(worker_id="a", limit=3)
    b = leases.leases_take(worker_id="b", limit=3)
    assert len(a) == 3 and len(b) == 2
    assert not set(a) & set(b)
    assert leases.leases_take(worker_id="c", limit=3) == []


def test_a_locked_row_is_skipped_not_waited_for(monitors):
    """While another transaction holds monitor 0's row, a taker gets the others at once."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Monitor.objects.select_for_update().get(pk=monitors[0].pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        taken = leases.leases_take(worker_id="b", limit=10)
    finally:
        release.set()
        holder.join()
    assert monitors[0].pk not in taken
    assert len(taken) == 4


def test_an_expired_lease_moves_to_another_worker(monitors, settings):
    taken = leases.leases_take(worker_id="dead", limit=5)
    assert leases.leases_take(worker_id="alive", limit=5) == []
    Monitor.objects.filter(pk=taken[0]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert leases.leases_take(worker_id="alive", limit=5) == [taken[0]]
    assert leases.leases_renew(worker_id="dead", monitor_ids=taken) == set(taken[1:])


def test_renew_drops_paused_and_deleted(monitors):
    taken = leases.leases_take(worker_id="w", limit=5)
    Monitor.objects.filter(pk=taken[0]).update(paused=True)
    Monitor.objects.filter(pk=taken[1]).delete()
    assert leases.leases_renew(worker_id="w", monitor_ids=taken) == set(taken[2:])
    before = Monitor.objects.get(pk=taken[2]).lease_expires_at
    leases.leases_renew(worker_id="w", monitor_ids=taken)
    assert Monitor.objects.get(pk=taken[2]).lease_expires_at >= before


def test_release_lets_another_take_at_once(monitors):
    taken = leases.leases_take(worker_id="w", limit=2)
    assert leases.leases_release(worker_id="w", monitor_ids=taken) == 2
    assert sorted(leases.leases_take(worker_id="v", limit=5)) == sorted(m.pk for m in monitors)


def test_failed_monitors_wait_before_a_retry(monitors, settings):
    settings.EARSHOT_MONITOR_FAILED_RETRY_S = 600
    Monitor.objects.filter(pk=monitors[0].pk).update(state=Monitor.State.FAILED, state_changed_at=timezone.now())
    Monitor.objects.filter(pk=monitors[1].pk).update(
        state=Monitor.State.FAILED, state_changed_at=timezone.now() - timedelta(seconds=601)
    )
    taken = leases.leases_take(worker_id="w", limit=10)
    assert monitors[0].pk not in taken and monitors[1].pk in taken
