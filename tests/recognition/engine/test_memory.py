"""The in-memory index answers as the PostgreSQL store does (recognition/engine/memory.py)."""

import numpy as np

from recognition.engine import Identifier, MemoryIndex
from recognition.engine import fingerprint as fp
from recognition.engine import sketch as sk
from tests import media

RATE = media.ENGINE_RATE


def test_a_lookup_in_every_track_finds_triplets_only_as_in_the_store(songs):
    index = MemoryIndex()
    index.add(1, fp.fingerprint(songs[1]))
    hashes = fp.fingerprint(songs[1][: 10 * RATE]).hashes
    everywhere = index.lookup(hashes).hashes
    assert everywhere.size > 0 and fp.is_triplet(everywhere).all()
    in_track = index.lookup(hashes, np.array([1])).hashes
    assert (~fp.is_triplet(in_track)).sum() > 2 * everywhere.size


def test_a_lookup_in_every_track_reads_at_most_the_cap_of_each_triplet_value():
    cap = fp.MAX_ROWS_PER_TRIPLET
    common, rare, pair = -1001, -2002, 77
    index = MemoryIndex()
    # `common` at every frame below 2 * cap + 100, over two tracks (even and odd frames).
    for track, first in ((1, 0), (2, 1)):
        frames = np.arange(first, 2 * cap + 100, 2, dtype=np.float32)
        index.add(track, fp.Fingerprints(np.full(frames.size, common, np.int32), frames, 1000))
    index.add(3, fp.Fingerprints(np.array([rare, rare, pair], np.int32), np.array([5.0, 9.0, 5.0], np.float32), 20))
    found = index.lookup(np.array([common, rare, pair]))
    hashes, tracks, offsets = found.hashes, found.track_ids, found.offsets
    assert (hashes == rare).sum() == 2 and pair not in hashes
    # The cap keeps the earliest rows in track time, as the store's key holds them.
    assert (hashes == common).sum() == cap
    assert sorted(offsets[hashes == common].tolist()) == list(range(cap))
    assert set(tracks[hashes == common].tolist()) == {1, 2}
    # Stage 2 (named tracks) reads every row of its tracks; studies can lift the cap.
    assert (index.lookup(np.array([common]), np.array([1, 2])).hashes == common).sum() == 2 * cap + 100
    unlimited = MemoryIndex(max_rows_per_triplet=None)
    unlimited.add(1, fp.Fingerprints(np.full(cap + 1, common, np.int32), np.arange(cap + 1, dtype=np.float32), 500))
    assert len(unlimited.lookup(np.array([common])).hashes) == cap + 1


def test_a_recording_stored_more_often_than_the_cap_is_still_found(songs):
    """A cap, not a stop-list: a song on hundreds of releases stores each of its triplets more
    often than stage 1 reads, and must still be recognised (as one of its copies)."""
    index = MemoryIndex()
    for seed, samples in songs.items():
        index.add(seed, fp.fingerprint(samples))
    copies = range(100, 101 + fp.MAX_ROWS_PER_TRIPLET)
    reference = fp.fingerprint(songs[6])
    for copy in copies:
        index.add(copy, reference)
    _, triplets = reference.split()
    read = np.unique(index.lookup(triplets.hashes).hashes, return_counts=True)[1]
    assert read.size > 100 and (read == fp.MAX_ROWS_PER_TRIPLET).all()  # every value is capped
    engine = Identifier(index)
    start = int(23.4 * RATE)
    match = engine.identify(songs[6][start : start + 5 * RATE])
    assert match is not None and match.track_id in {6, *copies}
    assert abs(fp.frames_to_seconds(match.offset_frames) - 23.4) < 0.05


def test_memory_index_slices_pad_with_zeros_where_a_track_has_no_frames(index, songs):
    frames = sk.sketch(songs[1])
    slices = index.sketch_slices(np.array([1, 1, 99]), np.array([-3, frames.size - 2, 0]), 6)
    assert np.array_equal(slices[0], np.r_[np.zeros(3, np.uint16), frames[:3]])
    assert np.array_equal(slices[1], np.r_[frames[-2:], np.zeros(4, np.uint16)])
    assert not slices[2].any()  # no such track
