"""Reads for the matcher (each process's cache of track lengths) and for results (track summaries)."""

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recognition import selectors
from recognition.engine.fingerprint import REFERENCE
from tests.factories import AlbumFactory, ArtistFactory, TrackFactory


def _frames(seconds: float) -> int:
    return int(seconds * REFERENCE.frames_per_second)


@pytest.mark.django_db
def test_track_lengths_are_read_for_the_whole_catalog_once_then_for_new_tracks_only():
    tracks = [TrackFactory(duration_s=60.0 + i, hash_count=100) for i in range(3)]
    pending = TrackFactory(duration_s=None, hash_count=0)  # not fingerprinted yet
    selectors.forget_track_frames()
    try:
        with CaptureQueriesContext(connection) as first:
            lengths = selectors.track_frames(np.array([tracks[0].pk]))
        assert lengths.tolist() == [_frames(60.0)] and len(first) == 1
        # The other fingerprinted tracks came with the first read.
        with CaptureQueriesContext(connection) as cached:
            lengths = selectors.track_frames(np.array([tracks[2].pk, tracks[1].pk, tracks[2].pk]))
        assert lengths.tolist() == [_frames(62.0), _frames(61.0), _frames(62.0)] and len(cached) == 0
        # A track fingerprinted since, and an id that is no track, cost one read, once.
        pending.duration_s, pending.hash_count = 30.0, 50
        pending.save()
        unknown = max(t.pk for t in [*tracks, pending]) + 1000
        with CaptureQueriesContext(connection) as later:
            lengths = selectors.track_frames(np.array([pending.pk, unknown, tracks[0].pk]))
            again = selectors.track_frames(np.array([unknown, pending.pk]))
        assert lengths.tolist() == [_frames(30.0), 0, _frames(60.0)] and again.tolist() == [0, _frames(30.0)]
        assert len(later) == 1
        # A replaced reference is read again.
        selectors.forget_track_frames(tracks[1].pk)
        type(tracks[1]).objects.filter(pk=tracks[1].pk).update(duration_s=90.0)
        with CaptureQueriesContext(connection) as replaced:
            assert selectors.track_frames(np.array([tracks[1].pk])).tolist() == [_frames(90.0)]
        assert len(replaced) == 1
    finally:
        selectors.forget_track_frames()


@pytest.mark.django_db
def test_a_reference_replaced_in_another_process_is_read_again_after_the_check(monkeypatch):
    track = TrackFactory(duration_s=60.0, hash_count=100)
    selectors.forget_track_frames()
    monkeypatch.setitem(selectors._generation, "until", 0.0)
    try:
        assert selectors.track_frames(np.array([track.pk])).tolist() == [_frames(60.0)]
        type(track).objects.filter(pk=track.pk).update(duration_s=90.0)
        # Another process replaces the reference: its forget_track_frames bumps the shared generation.
        cache.set(selectors.FRAMES_GENERATION_KEY, (cache.get(selectors.FRAMES_GENERATION_KEY) or 0) + 1, None)
        assert selectors.track_frames(np.array([track.pk])).tolist() == [_frames(60.0)]  # until the next check
        monkeypatch.setitem(selectors._generation, "until", 0.0)
        with CaptureQueriesContext(connection) as reads:
            assert selectors.track_frames(np.array([track.pk])).tolist() == [_frames(90.0)]
        assert len(reads) == 1
        # This process's own replacement bumps the generation for the others.
        before = cache.get(selectors.FRAMES_GENERATION_KEY)
        selectors.forget_track_frames(track.pk)
        assert cache.get(selectors.FRAMES_GENERATION_KEY) == before + 1
    finally:
        selectors.forget_track_frames()


@pytest.mark.django_db
def test_track_summaries_say_what_the_track_says_in_one_query():
    zed, abe, abe_too = ArtistFactory(name="Zed"), ArtistFactory(name="Abe"), ArtistFactory(name="Abe")
    credited = TrackFactory(title="Harbour Lights", isrc="GBAYE0000001", album=AlbumFactory(title="Quays"))
    credited.artists.set([zed, abe_too, abe])
    alone = TrackFactory(title="Untitled")
    with CaptureQueriesContext(connection) as reads:
        summaries = selectors.track_summaries([credited.pk, alone.pk, 10**9])
    assert len(reads) == 1
    assert summaries == {
        credited.pk: {
            "title": "Harbour Lights",
            "artist": credited.artist_names,
            "album": "Quays",
            "isrc": "GBAYE0000001",
        },
        alone.pk: {"title": "Untitled", "artist": "", "album": "", "isrc": ""},
    }
    assert credited.artist_names == "Abe, Abe, Zed"
