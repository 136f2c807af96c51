"""Write paths for catalog rows that do not involve fingerprinting (see recognition.services)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from catalog.models import Album, Artist, Track

__all__ = ["track_update", "tracks_delete"]


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
    if title is not None:
        track.title = title[:300]
    if isrc is not None:
        track.isrc = isrc
    if album_title is not None:
        track.album = (
            Album.objects.get_or_create(owner=track.owner, title=album_title[:300])[0] if album_title else None
        )
    track.full_clean(exclude=["owner", "audio", "sha256"])
    track.save()
    if artist_names is not None:
        track.artists.set([Artist.objects.get_or_create(owner=track.owner, name=n[:200])[0] for n in artist_names])
    return track


def tracks_delete(tracks: Iterable[Track]) -> int:
    """Delete tracks with their hashes (PostgreSQL cascades them) and, after commit, their files."""
    tracks = list(tracks)
    names = [track.audio.name for track in tracks if track.audio.name]
    with transaction.atomic():
        deleted, _ = Track.objects.filter(pk__in=[track.pk for track in tracks]).delete()
        storage = Track.audio.field.storage

        def delete_files() -> None:
            for name in names:
                storage.delete(name)

        transaction.on_commit(delete_files)
    return deleted
