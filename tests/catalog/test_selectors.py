"""Catalog reads: which tracks the listen page offers as demo songs."""

import pytest

from catalog.demo import synth_song
from catalog.selectors import DEMO_OWNER, demo_songs
from catalog.services import track_update
from recognition.services import track_ingest
from tests import media

pytestmark = pytest.mark.django_db


def _song(owner, tmp_path, seed, seconds, *, preview=True):
    path = media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, seconds))
    track = track_ingest(path=path, owner=owner, title=f"Song {seed}").track
    track_update(track=track, preview_allowed=preview)
    return track


def test_demo_songs_are_the_demo_owners_previewed_songs_long_enough_to_listen_to(make_user, tmp_path):
    demo = make_user(role="rights_holder", username=DEMO_OWNER)
    label = make_user(role="rights_holder", username="a-label")
    offered = _song(demo, tmp_path, 91, 30)
    _song(demo, tmp_path, 92, 12)  # shorter than the page listens
    _song(demo, tmp_path, 93, 30, preview=False)
    _song(label, tmp_path, 94, 30)  # a rights holder's preview is not a demo song
    assert demo_songs() == [
        {"track_id": offered.pk, "preview_url": f"/tracks/{offered.pk}/preview?v={offered.preview.name[-36:-24]}"}
    ]
