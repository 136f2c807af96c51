"""Writes of catalog rows: a track's metadata, the lock that orders writes to one track, deletion.

Every interface (the API, the admin, the commands) writes tracks through these functions and
recognition.services (reference audio and fingerprints, which call these for the rest), so the
lock below orders all of them, not only the API's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from django.db import transaction
from django.http import Http404

from accounts.models import User
from catalog.models import Album, Artist, Track

__all__ = ["KEEP", "Keep", "TrackGone", "track_lock", "track_update", "tracks_delete"]


class TrackGone(Http404):
    """The track was deleted while this write waited for it. An Http404, so that every interface
    (API, admin) answers "not found" without a handler of its own."""


class Keep(enum.Enum):
    """An argument's value that leaves its field as it is, where None means "none"."""

    KEEP = "keep"


KEEP = Keep.KEEP


def track_lock(*, track_id: int) -> None:
    """Lock a track's row until the transaction ends, so that writes to one track (metadata, its
    reference, its deletion) run one after another; raise TrackGone if it no longer exists.

    Without it, two deletions of one track deadlock in PostgreSQL (each locks some of the
    track's related rows first), and a save() of a track deleted meanwhile finds no row to
    update and inserts it again.
    """
    if not Track.objects.select_for_update().filter(pk=track_id).values_list("pk", flat=True):
        raise TrackGone("This track no longer exists.")


@transaction.atomic
def track_update(
    *,
    track: Track,
    title: str | None = None,
    isrc: str | None = None,
    artists: Sequence[Artist | str] | None = None,
    album: Album | str | Keep | None = KEEP,
    owner: User | None = None,
) -> Track:
    """Change a track's metadata, never its audio or fingerprints; raise TrackGone if it was
    deleted meanwhile. Arguments left out (None, or KEEP for the album) leave their field as is.

    Artists and the album are rows of the owner's catalog or names, found or created in it; an
    album of None or "" clears it. `owner` gives the track to another rights holder (staff do
    that in the admin).
    """
    track_lock(track_id=track.pk)
    # Only the columns given: the caller's object may predate another write (a replaced
    # reference's audio, digest and hash count; another edit), which a full save() would undo.
    fields = ["updated_at"]
    if owner is not None:
        track.owner = owner
        fields.append("owner")
    if title is not None:
        track.title = title[:300]
        fields.append("title")
    if isrc is not None:
        track.isrc = isrc
        fields.append("isrc")
    if not isinstance(album, Keep):
        track.album = _album_row(owner=track.owner, album=album)
        fields.append("album")
    track.full_clean(exclude=["owner", "audio", "sha256"])
    track.save(update_fields=fields)
    if artists is not None:
        track.artists.set([_artist_row(owner=track.owner, artist=artist) for artist in artists])
    return track


def _artist_row(*, owner: User, artist: Artist | str) -> Artist:
    if isinstance(artist, Artist):
        return artist
    return Artist.objects.get_or_create(owner=owner, name=artist[:200])[0]


def _album_row(*, owner: User, album: Album | str | None) -> Album | None:
    if not isinstance(album, str):
        return album
    if not album:
        return None
    # Titles are not unique (the admin may add two albums of one title): the first one is it.
    found = Album.objects.filter(owner=owner, title=album[:300]).order_by("pk").first()
    return found or Album.objects.create(owner=owner, title=album[:300])


def tracks_delete(*, tracks: Iterable[Track]) -> int:
    """Delete tracks with their hashes (PostgreSQL cascades them) and, after commit, their files;
    return how many were deleted (0: another request deleted them first)."""
    tracks = list(tracks)
    names = [track.audio.name for track in tracks if track.audio.name]
    with transaction.atomic():
        # Rows locked in one order first (as track_lock): concurrent deletions wait, then find none.
        locked = list(
            Track.objects.select_for_update()
            .filter(pk__in=[t.pk for t in tracks])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        _, deleted = Track.objects.filter(pk__in=locked).delete()
        storage = Track.audio.field.storage

        def delete_files() -> None:
            for name in names:
                storage.delete(name)

        transaction.on_commit(delete_files)
    return deleted.get(Track._meta.label, 0)
