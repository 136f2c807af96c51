"""Lookups asked ahead on the helper's own connection (recognition/store/ahead.py)."""

import time

import numpy as np
import pytest
from django.db import connection

from catalog.models import Track
from recognition import store
from recognition.engine.fingerprint import Fingerprints
from recognition.store import ahead


def _rows(rows) -> list[tuple[int, int, int]]:
    return sorted(zip(rows.hashes.tolist(), rows.track_ids.tolist(), rows.offsets.tolist(), strict=True))


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_groups_asked_ahead_read_what_a_lookup_reads_and_the_connection_closes(rights_holder):
    store.forget_triplet_filters()
    rng = np.random.default_rng(11)
    values = rng.integers(-(1 << 31), -1, 400).astype(np.int32)
    track = Track.objects.create(title="t", owner=rights_holder)
    store.write_track_hashes(track.pk, Fingerprints(values, np.arange(400, dtype=np.float32), 400))
    index = store.PostgresIndex(row_cap=1)
    before = _backends()  # the test's own, and any other test's server in this worker
    groups = [values[:150], np.r_[values[150:], rng.integers(-(1 << 31), -1, 300)]]
    futures = index.lookup_later(groups)
    assert futures is not None
    for group, future in zip(groups, futures, strict=True):
        assert _rows(future.result(timeout=30)) == _rows(index.lookup(group)) != []
    assert _backends() == before + 1  # the helper's
    assert ahead.close_connection()
    deadline = time.monotonic() + 10  # a closed connection's backend exits on its own time
    while _backends() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _backends() == before
    assert store.PostgresIndex(ask_ahead=False).lookup_later is None


def test_the_portal_setting_turns_asking_ahead_off(settings):
    from recognition.services import identifier

    assert identifier().index.ask_ahead is True
    settings.EARSHOT_ASK_AHEAD = False
    assert identifier().index.ask_ahead is False


@pytest.mark.django_db
def test_nothing_is_asked_ahead_inside_a_transaction():
    """Another connection would not see the transaction's own writes: the clip looks up itself."""
    assert connection.in_atomic_block
    assert store.PostgresIndex().lookup_later([np.array([-5])]) is None
