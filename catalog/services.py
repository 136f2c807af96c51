"""Write paths for catalog rows that do not involve fingerprinting (see recognition.services)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.http import Http404

from catalog.models import Album, Artist, Track

__all__ = ["TrackGone", "track_lock", "track_update", "tracks_delete"]


class TrackGone(Http404):
    """The track was deleted while this write waited for it. An Http404, so that every interface
    (API, admin) answers "not found" without a handler of its own."""


def track_lock(track_id: int) -> None:
    """Lock a track's row until the transaction ends, so that writes to one track (metadata, its
    reference, its deletion) run one after another; raise TrackGone if it no longer exists.

    Without it, two deletions of one track deadlocked in PostgreSQL (each had locked some of the
    track's related rows: `make fuzz-api` found it as a 500), and a save() of a track deleted
    meanwhile found no row to update and inserted it again.
    """
    if not Track.objects.select_for_update().filter(pk=track_id).values_list("pk", flat=True):
        raise TrackGone("This track no longer exists.")


@transaction.atomic
def track_update(
    *,
    track: Track,
    title: str | None = None,
    artist_names: list[str] | None = None,
    album_title: str | None = None,
    isrc: str | None = None,
) -> Track:
    """Change a track's metadata (never its owner, audio or fingerprints); None leaves a field as is."""
    track_lock(track.pk)
    if title is not None:
        track.title = title[:300]
    if isrc is not None:
        track.isrc = isrc
    if album_title is not None:
        track.album = (
            Album.objects.get_or_create(owner=track.owner, title=album_title[:300])[0] if album_title else None
        )
    track.full_clean(exclude=["owner", "audio", "sha256"])
    # Only these columns: the caller's object may predate a reference replaced meanwhile, whose
    # audio, digest and hash count a full save() would write back.
    track.save(update_fields=["title", "isrc", "album", "updated_at"])
    if artist_names is not None:
        track.artists.set([Artist.objects.get_or_create(owner=track.owner, name=n[:200])[0] for n in artist_names])
    return track


def tracks_delete(tracks: Iterable[Track]) -> int:
    """Delete tracks with their hashes (PostgreSQL cascades them) and, after commit, their files;
    return how many tracks were deleted (0: others deleted them first)."""
    tracks = list(tracks)
    names = [track.audio.name for track in tracks if track.audio.name]
    with transaction.atomic():
        # Rows locked in one order first (track_lock): concurrent deletions wait, then find none.
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
