"""Stage 1's presence filter (recognition/store/presence.py): every stored triplet passes, few others."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.db import connection, connections, transaction

from catalog.models import Track
from recognition import store
from recognition.engine.fingerprint import Fingerprints
from recognition.store.presence import triplet_filter


def _triplets(*values: int) -> Fingerprints:
    hashes = np.array(values, np.int32)
    return Fingerprints(hashes, np.arange(hashes.size, dtype=np.float32), hashes.size)


@pytest.mark.django_db
def test_the_presence_filter_passes_every_stored_triplet_and_few_others(rights_holder):
    rng = np.random.default_rng(3)
    stored_values = rng.integers(-(1 << 31), -1, 5000).astype(np.int32)
    track = Track.objects.create(title="t", owner=rights_holder)
    store.write_track_hashes(track.pk, Fingerprints(stored_values, np.zeros(5000, np.float32), 10))
    others = rng.integers(-(1 << 31), -1, 20000)
    with connection.cursor() as cursor:
        presence = triplet_filter(cursor)
    assert presence.may_hold(stored_values).all()
    assert presence.may_hold(others).mean() < 0.01
    # A clip's triplets sit next to stored ones (one step apart): they must not pass with them.
    neighbours = np.setdiff1d((stored_values.astype(np.int64)[:, None] ^ np.arange(1, 16)).ravel(), stored_values)
    assert presence.may_hold(neighbours).mean() < 0.01
    # What it lets through is looked up: the rows found are those stored.
    assert len(store.lookup(np.concatenate([stored_values[:100], others]))) == 100


@pytest.mark.django_db(transaction=True)
def test_lookups_find_triplets_written_by_a_transaction_open_while_they_looked(rights_holder):
    """The filter must never miss a track: not one written before it loaded, and not one whose
    transaction was still open at a lookup and committed after it."""
    store.forget_triplet_filters()
    first = Track.objects.create(title="before", owner=rights_holder)
    store.write_track_hashes(first.pk, _triplets(-1001))
    assert len(store.lookup(np.array([-1001]))) == 1  # loads the filter

    written, release = threading.Event(), threading.Event()

    def ingest_and_wait() -> None:
        try:
            with transaction.atomic():
                late = Track.objects.create(title="late", owner=rights_holder)
                store.write_track_hashes(late.pk, _triplets(-2002))
                written.set()
                assert release.wait(30)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(ingest_and_wait)
        assert written.wait(30)
        assert len(store.lookup(np.array([-1001, -2002]))) == 1  # not committed yet
        release.set()
        pending.result(timeout=30)
    assert len(store.lookup(np.array([-1001, -2002]))) == 2
    third = Track.objects.create(title="after", owner=rights_holder)
    store.write_track_hashes(third.pk, _triplets(-3003))
    assert len(store.lookup(np.array([-1001, -2002, -3003]))) == 3
