"""Reads of the catalog, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from catalog.models import Album, Artist, FingerprintStatus, Track

__all__ = ["albums_visible_to", "artists_visible_to", "track_search", "tracks_listed_to", "tracks_visible_to"]


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
