"""Stage 1 split across two connections: the same rows as one lookup, and only where it may."""

import numpy as np
import pytest
from django.db import connection, transaction

from catalog.models import Track
from recognition import store
from recognition.engine.fingerprint import Fingerprints
from recognition.store import parallel


def _write_triplets(track, values: np.ndarray, copies: int = 3) -> None:
    """`copies` rows of each triplet value (negative int4s) in `track`, at different frames."""
    hashes = np.repeat(values, copies).astype(np.int32)
    frames = (np.arange(hashes.size) % 5000).astype(np.float32)
    store.write_track_hashes(track.pk, Fingerprints(hashes, frames, 5000))


def _spied(monkeypatch) -> list[bool]:
    """Whether each lookup in every track split (parallel.elsewhere gave a future)."""
    split: list[bool] = []
    elsewhere = parallel.elsewhere

    def spy(values, job):
        future = elsewhere(values, job)
        split.append(future is not None)
        return future

    monkeypatch.setattr(parallel, "elsewhere", spy)
    return split


def _connections_to_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_long_lookup_split_in_two_returns_the_rows_of_one(rights_holder, settings, monkeypatch, caplog):
    rng = np.random.default_rng(5)
    stored = -rng.choice(1 << 30, 3 * parallel.SPLIT_MIN_VALUES, replace=False) - 1
    tracks = [Track.objects.create(title=f"t{k}", owner=rights_holder) for k in range(2)]
    _write_triplets(tracks[0], stored)
    _write_triplets(tracks[1], stored[::2], copies=2)
    absent = -rng.choice(1 << 30, 500, replace=False) - (1 << 30) - 1  # stored nowhere
    wanted = np.concatenate([stored, absent])
    split = _spied(monkeypatch)

    settings.EARSHOT_SPLIT_LOOKUPS = False
    whole = store.lookup(wanted)
    settings.EARSHOT_SPLIT_LOOKUPS = True
    halves = store.lookup(wanted)
    assert split == [False, True]
    assert not [r for r in caplog.records if r.name == parallel.__name__]  # the helper ran its half
    assert len(whole) == 3 * stored.size + 2 * stored[::2].size
    # Row for row and in the same order: each value's rows stay together, the halves in turn.
    for field in ("hashes", "track_ids", "offsets"):
        assert np.array_equal(getattr(whole, field), getattr(halves, field))
    # The helper closed its connection (CONN_MAX_AGE 0 here): nothing outlives the test.
    assert _connections_to_this_database() == 1
    # A short lookup runs on one connection.
    assert len(store.lookup(stored[1:20:2])) == 30 and split[-1] is False


@pytest.mark.django_db(transaction=True)
def test_a_lookup_in_a_transaction_stays_on_its_connection_and_sees_its_rows(rights_holder, monkeypatch):
    stored = -np.arange(1, 2 * parallel.SPLIT_MIN_VALUES + 1)
    split = _spied(monkeypatch)
    with transaction.atomic():
        track = Track.objects.create(title="t", owner=rights_holder)
        _write_triplets(track, stored, copies=1)
        # The second connection could not see these rows before the transaction commits.
        assert len(store.lookup(stored)) == stored.size
    assert split == [False]


@pytest.mark.django_db(transaction=True)
def test_a_busy_or_failing_helper_leaves_the_lookup_to_the_caller(rights_holder, monkeypatch):
    stored = -np.arange(1, 2 * parallel.SPLIT_MIN_VALUES + 1)
    track = Track.objects.create(title="t", owner=rights_holder)
    _write_triplets(track, stored, copies=1)
    helper = parallel._the_helper()
    split = _spied(monkeypatch)
    with helper._idle:  # another clip's half is running
        assert len(store.lookup(stored)) == stored.size
    assert split == [False]

    # A second connection that cannot connect (a port nothing listens on): the caller runs the job.
    def count_rows(cursor):
        cursor.execute("SELECT count(*) FROM recognition_fingerprint")
        return cursor.fetchone()[0]

    unreachable = {**connection.settings_dict, "PORT": "1"}
    future = helper.try_submit(unreachable, count_rows)
    assert future is not None
    with connection.cursor() as cursor:
        assert parallel.result_or_here(future, count_rows, cursor) == stored.size
    assert helper._idle.acquire(blocking=False)  # the helper is idle again
    helper._idle.release()
