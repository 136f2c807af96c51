"""Pair lists kept by the process: read again only when the stored list changed."""

import numpy as np
import pytest

from catalog.models import Track
from recognition import store
from recognition.engine.fingerprint import Fingerprints
from recognition.store import pairs


def _rows(rows) -> list[tuple[int, int, int]]:
    return sorted(zip(rows.hashes.tolist(), rows.track_ids.tolist(), rows.offsets.tolist(), strict=True))


def _write_pairs(track, hashes) -> None:
    hashes = np.asarray(hashes, np.int32)
    store.write_track_hashes(track.pk, Fingerprints(hashes, np.arange(hashes.size, dtype=np.float32), 1000))


@pytest.fixture
def lists_read(monkeypatch):
    """How many times the packed lists were read from the database, and of which tracks."""
    pairs.forget_pair_lists()
    read: list[list[int]] = []
    copy_out = pairs.copy_out

    def counted(cursor, sql, params):
        if sql == pairs._PAIR_LISTS_SQL:
            read.append(sorted(int(t) for t in params[0].strip("{}").split(",")))
        return copy_out(cursor, sql, params)

    monkeypatch.setattr(pairs, "copy_out", counted)
    yield read
    pairs.forget_pair_lists()


@pytest.mark.django_db
def test_a_list_read_once_is_served_again_without_reading_it(rights_holder, lists_read, monkeypatch):
    tracks = [Track.objects.create(title=f"t{k}", owner=rights_holder) for k in range(3)]
    for k, track in enumerate(tracks):
        _write_pairs(track, [5, 9, 100 + k, 7])
    ids = np.array([t.pk for t in tracks])
    wanted = np.array([5, 7, 101, 102])
    first = store.lookup(wanted, ids[:2])
    again = store.lookup(wanted, ids)  # the first two kept, the third read
    assert lists_read == [sorted(ids[:2].tolist()), [ids[2]]]
    monkeypatch.setattr(pairs, "PAIR_CACHE_PAIRS", 0)  # without the cache: the same rows
    assert _rows(again) == _rows(store.lookup(wanted, ids))
    assert _rows(first) == [(5, ids[0], 0), (5, ids[1], 0), (7, ids[0], 3), (7, ids[1], 3), (101, ids[1], 2)]


@pytest.mark.django_db
def test_a_replaced_or_deleted_list_is_never_served_from_the_cache(rights_holder, lists_read):
    track = Track.objects.create(title="t", owner=rights_holder)
    _write_pairs(track, [5, 9])
    ids = np.array([track.pk])
    assert _rows(store.lookup(np.array([5, 9, 11]), ids)) == [(5, track.pk, 0), (9, track.pk, 1)]
    store.delete_track_hashes(track.pk)  # a replaced reference: its hashes written again
    _write_pairs(track, [11, 9, 5])
    assert _rows(store.lookup(np.array([5, 9, 11]), ids)) == [(5, track.pk, 2), (9, track.pk, 1), (11, track.pk, 0)]
    assert len(lists_read) == 2
    store.delete_track_hashes(track.pk)
    assert len(store.lookup(np.array([5, 9, 11]), ids)) == 0


@pytest.mark.django_db
def test_the_cache_holds_at_most_its_pairs(rights_holder, lists_read, monkeypatch):
    monkeypatch.setattr(pairs, "PAIR_CACHE_PAIRS", 250)
    tracks = [Track.objects.create(title=f"t{k}", owner=rights_holder) for k in range(4)]
    for k, track in enumerate(tracks):
        _write_pairs(track, np.arange(100) + 1000 * k)
    ids = np.array([t.pk for t in tracks])
    rows = store.lookup(np.arange(4000), ids)
    assert len(rows) == 400  # every pair found, whatever the cache keeps
    assert pairs._PAIR_LISTS._pairs <= 250 and list(pairs._PAIR_LISTS._lists) == ids[-2:].tolist()
    store.lookup(np.arange(4000), ids[-2:])  # the two most recent: kept
    store.lookup(np.arange(4000), ids[:1])  # the first: evicted, read again
    assert lists_read[1:] == [[ids[0]]]
