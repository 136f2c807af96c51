"""Reads of the catalog, scoped to what a user may see."""

from __future__ import annotations

from pathlib import PurePosixPath

from django.db.models import Q, QuerySet
from django.urls import reverse

from catalog.links import links_named
from catalog.models import Album, Artist, FingerprintStatus, Track

__all__ = [
    "album_artwork_url",
    "albums_visible_to",
    "artists_visible_to",
    "demo_songs",
    "track_artwork_name",
    "track_artwork_url",
    "track_cards",
    "track_preview_url",
    "track_search",
    "tracks_listed_to",
    "tracks_visible_to",
]


def _scoped(queryset: QuerySet, user) -> QuerySet:
    if not user.is_authenticated:
        return queryset.none()
    if user.sees_whole_catalog:
        return queryset
    return queryset.filter(owner=user)


def tracks_visible_to(user) -> QuerySet[Track]:
    """Tracks a user may manage: their own, or all of them for staff."""
    return _scoped(Track.objects.all(), user)


def artists_visible_to(user) -> QuerySet[Artist]:
    return _scoped(Artist.objects.all(), user)


def albums_visible_to(user) -> QuerySet[Album]:
    """Albums a user may manage: their own, or all of them for staff."""
    return _scoped(Album.objects.all(), user)


def tracks_listed_to(user) -> QuerySet[Track]:
    """Tracks a user may find: fingerprinted ones, plus their own in any state (all for staff).

    A pending or failed track is an unfinished upload, not part of the catalog: its title is its
    owner's business until it can be recognised.
    """
    tracks = Track.objects.all()
    if user.is_authenticated and user.sees_whole_catalog:
        return tracks
    ready = Q(fingerprint_status=FingerprintStatus.READY)
    return tracks.filter(ready | Q(owner=user)) if user.is_authenticated else tracks.filter(ready)


def track_search(*, words: str = "", isrc: str = "", owner=None, viewer=None) -> QuerySet[Track]:
    """Tracks whose title or an artist's name holds `words`, with an exact ISRC, of one owner.

    With a `viewer`, only the tracks listed to them (tracks_listed_to). `words` match anywhere
    in the text (a leading wildcard): the trigram indexes of catalog 0002 serve that.
    """
    tracks = tracks_listed_to(viewer) if viewer is not None else Track.objects.all()
    tracks = tracks.select_related("album").prefetch_related("artists").order_by("title", "id")
    if words:
        # A union of two id lists, each served by its trigram index; an OR across the artists
        # join (and the DISTINCT it needs) makes PostgreSQL scan every track instead.
        by_title = Track.objects.filter(title__icontains=words).values("pk")
        by_artist = Track.artists.through.objects.filter(artist__name__icontains=words).values("track_id")
        tracks = tracks.filter(pk__in=by_title.union(by_artist))
    if isrc:
        tracks = tracks.filter(isrc=isrc.upper())
    if owner is not None:
        tracks = tracks.filter(owner=owner)
    return tracks


def track_artwork_name(track: Track) -> str:
    """The stored name of the artwork a track shows: its own, else its album's ("" for none)."""
    if track.artwork:
        return track.artwork.name or ""
    return (track.album.artwork.name or "") if track.album and track.album.artwork else ""


def _versioned(url: str, stored_name: str) -> str:
    # A stored name is new for every new file (portal.storage.RandomKey), so its stem makes the
    # URL change with the file and lets browsers keep each version for long.
    return f"{url}?v={PurePosixPath(stored_name).stem[:12]}"


def track_artwork_url(track: Track) -> str:
    """The URL of the artwork a track shows ("" for none); the track's album must be loaded."""
    name = track_artwork_name(track)
    return _versioned(reverse("catalog:artwork", args=[track.pk]), name) if name else ""


def album_artwork_url(album: Album) -> str:
    """The API URL of an album's artwork, for its owner and staff ("" for none)."""
    name = album.artwork.name or ""
    return _versioned(reverse("api:album_artwork", args=[album.pk]), name) if name else ""


def track_preview_url(track: Track) -> str:
    """The URL of a track's preview, "" unless its owner allows one and it is stored."""
    if not (track.preview_allowed and track.preview):
        return ""
    return _versioned(reverse("catalog:preview", args=[track.pk]), track.preview.name or "")


def track_cards(track_ids: list[int]) -> dict[int, dict]:
    """What a listener sees of each track with a match: title, artists, album and its year, the
    artwork, the owner's links, a preview if the owner allows one, and the track's page."""
    tracks = Track.objects.filter(id__in=track_ids).select_related("album").prefetch_related("artists")
    return {
        track.id: {
            "title": track.title,
            "artist": track.artist_names,
            "album": track.album.title if track.album else "",
            "year": track.album.release_year if track.album else None,
            "artwork_url": track_artwork_url(track),
            "links": links_named(track.links),
            "preview_url": track_preview_url(track),
            "url": reverse("catalog:track", args=[track.id]),
        }
        for track in tracks
    }


# The demo catalog's owner (catalog.demo, `manage.py load_demo`); a deployment without the demo
# has no such user, and its listen page no "play a demo song" control.
DEMO_OWNER = "demo-rights"
DEMO_MIN_SECONDS = 20.0  # a demo song plays longer than the listen page listens


def demo_songs() -> list[dict]:
    """The demo catalog's tracks the listen page may play as a demo song: fingerprinted, with a
    preview at least DEMO_MIN_SECONDS long; `[{"track_id", "preview_url"}]`, in title order."""
    tracks = (
        Track.objects.filter(
            owner__username=DEMO_OWNER,
            fingerprint_status=FingerprintStatus.READY,
            preview_allowed=True,
            duration_s__gte=DEMO_MIN_SECONDS,
        )
        .exclude(preview="")
        .order_by("title", "id")
        .only("id", "preview", "preview_allowed")
    )
    return [{"track_id": track.id, "preview_url": track_preview_url(track)} for track in tracks]
