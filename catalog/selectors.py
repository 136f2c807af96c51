"""Reads of the catalog, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from catalog.models import Album, Artist, Track

__all__ = ["albums_visible_to", "artists_visible_to", "track_search", "tracks_visible_to"]


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


def track_search(*, words: str = "", isrc: str = "", owner=None) -> QuerySet[Track]:
    """Tracks whose title or an artist's name holds `words`, with an exact ISRC, of one owner."""
    tracks = Track.objects.select_related("album").prefetch_related("artists").order_by("title", "id")
    if words:
        tracks = tracks.filter(Q(title__icontains=words) | Q(artists__name__icontains=words)).distinct()
    if isrc:
        tracks = tracks.filter(isrc=isrc.upper())
    if owner is not None:
        tracks = tracks.filter(owner=owner)
    return tracks
