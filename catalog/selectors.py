"""Reads of the catalog, scoped to what a user may see."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import PurePosixPath

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.urls import reverse

from catalog.links import links_named
from catalog.models import Album, Artist, FingerprintStatus, Track

__all__ = [
    "FIRST_WALK_SLACK",
    "WALK_COST_RATIO",
    "TrackSearch",
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


def _ids_matching(words: str) -> QuerySet:
    # A union of two id lists, each served by its trigram index; an OR across the artists join
    # (and the DISTINCT it needs) makes PostgreSQL scan every track instead.
    by_title = Track.objects.filter(title__icontains=words).values("pk")
    by_artist = Track.artists.through.objects.filter(artist__name__icontains=words).values("track_id")
    return by_title.union(by_artist)


def track_search(*, words: str = "", isrc: str = "", owner=None, viewer=None) -> QuerySet[Track]:
    """Tracks whose title or an artist's name holds `words`, with an exact ISRC, of one owner.

    With a `viewer`, only the tracks listed to them (tracks_listed_to). `words` match anywhere
    in the text (a leading wildcard): the trigram indexes of catalog 0002 serve that.
    """
    tracks = tracks_listed_to(viewer) if viewer is not None else Track.objects.all()
    tracks = tracks.select_related("album").prefetch_related("artists").order_by("title", "id")
    if words:
        tracks = tracks.filter(pk__in=_ids_matching(words))
    if isrc:
        tracks = tracks.filter(isrc=isrc.upper())
    if owner is not None:
        tracks = tracks.filter(owner=owner)
    return tracks


# What reading one track in title order and testing it costs, over what collecting one matching
# id from the trigram indexes costs (docs/decisions.md, "A common word in the catalog search").
WALK_COST_RATIO = 2.5
# The first walk reads up to this many times the tracks the estimated share expects (`stop /
# share`): room for a share overestimated a few times, not for matches that sort late.
FIRST_WALK_SLACK = 20


def _planned_rows(queryset: QuerySet) -> float:
    """PostgreSQL's estimate of the rows a queryset gives, from its statistics (EXPLAIN: no rows read)."""
    return json.loads(queryset.explain(format="json"))[0]["Plan"]["Plan Rows"]


class TrackSearch:
    """The tracks whose title or an artist's name holds `words` (track_search), read like a queryset.

    A slice is read by one of two plans that give the same rows in the same order (title, id):
    - the union: both trigram indexes give every matching id with its title, which are then
      sorted, and only the page's tracks are read whole. It costs in proportion to the matches:
      nothing for a rare word, a second for one in a quarter of 10^6 tracks.
    - the walk: read the tracks in title order (catalog 0005's index), test each, stop when the
      slice is full. It costs in proportion to the rows read, about `stop / share` for a word in
      that share of the catalog, so little for a common word and the whole catalog for a rare one.

    `plan` picks the walk when PostgreSQL's estimate of the matches says it reads fewer rows than
    the union collects ids. The walk then reads at most that many rows (`_walks_to_try`): a word
    whose matches cluster late in title order, which no estimate can see, falls back to the union,
    having cost at most as much again. A count below its limit (few matches) settles it for the
    union.
    `count_up_to` needs no plan: it reads at most `limit` ids from each index, in one query.
    An ISRC or an owner narrows the search to a few tracks: the union serves that alone.
    """

    def __init__(self, *, words: str = "", isrc: str = "", owner=None, viewer=None) -> None:
        self.words = words
        self.queryset = track_search(words=words, isrc=isrc, owner=owner, viewer=viewer)
        self._scoped = track_search(isrc=isrc, owner=owner, viewer=viewer).select_related(None).prefetch_related(None)
        self._listed = tracks_listed_to(viewer) if viewer is not None else Track.objects.all()
        self._lists_all = viewer is None or (viewer.is_authenticated and viewer.sees_whole_catalog)
        self._walks = bool(words) and not isrc and owner is None
        self._few = False  # a count found fewer matches than its limit

    def _matching(self, tracks: QuerySet[Track], *, hashed: bool = False) -> QuerySet[Track]:
        """`tracks` whose title or an artist's name holds the words.

        By default an artist's match is a correlated scalar subquery, run through the credits'
        index for each track the walk reads: cheap while the walk reads few tracks. `hashed` asks
        for an EXISTS, which PostgreSQL hashes inside an OR: every credit of every matching artist
        read once, before the first track, cheaper once the walk reads tens of thousands.
        """
        credits = Track.artists.through.objects.filter(track_id=OuterRef("pk"), artist__name__icontains=self.words)
        if hashed:
            return tracks.filter(Q(title__icontains=self.words) | Q(Exists(credits)))
        return tracks.alias(credit=Subquery(credits.values("pk")[:1])).filter(
            Q(title__icontains=self.words) | Q(credit__isnull=False)
        )

    def _credits(self) -> QuerySet:
        return Track.artists.through.objects.filter(artist__name__icontains=self.words)

    @cached_property
    def _estimate(self) -> tuple[float, float]:
        """(estimated share of the tracks that match, estimated tracks in the catalog).

        A track whose title and artist both match counts twice: the share is at most doubled.
        """
        tracks = _planned_rows(Track.objects.order_by().values("pk"))
        if not tracks:
            return 0.0, 0.0
        titled = _planned_rows(Track.objects.filter(title__icontains=self.words).order_by().values("pk"))
        credited = _planned_rows(self._credits().values("track_id"))
        return min(1.0, (titled + credited) / tracks), tracks

    def share(self) -> float:
        """The estimated share of the catalog's tracks that match (0 without words)."""
        return self._estimate[0] if self.words else 0.0

    def _budget(self) -> int:
        """The rows the walk may read: as many as cost what the union would."""
        share, tracks = self._estimate
        return int(share * tracks / WALK_COST_RATIO)

    def plan(self, start: int, stop: int) -> str:
        """ "walk" or "union": the plan expected to read less for the matches `start` to `stop`.

        The walk reads about `stop / share` tracks, the union collects `share × tracks` ids.
        """
        forced = getattr(settings, "EARSHOT_SEARCH_PLAN", "auto")
        if not self._walks:
            return "union"
        if forced in ("walk", "union"):
            return forced
        if self._few:
            return "union"
        share = self.share()
        return "walk" if share and stop / share <= self._budget() else "union"

    def _walks_to_try(self, stop: int) -> list[tuple[int | None, bool]]:
        """(tracks it may read, hashed) of each walk to try, in turn, before the union.

        First the walk the share expects, with FIRST_WALK_SLACK times its tracks, testing artists
        track by track; then, when the matches lie later in title order than the share says, the
        rest of the budget with the artists' credits hashed once. A forced walk reads to the end.
        """
        if getattr(settings, "EARSHOT_SEARCH_PLAN", "auto") == "walk":
            return [(None, False)]
        budget = self._budget()
        first = min(budget, int(FIRST_WALK_SLACK * stop / self.share()))
        return [(first, False), *([(budget, True)] if budget > first else [])]

    def _walked(self, start: int, stop: int, *, rows: int | None, hashed: bool) -> list[Track] | None:
        """The matches `start` to `stop` from the first `rows` tracks in title order (all of them
        for None), or None when they are not all there."""
        walk = self._matching(self._listed, hashed=hashed).select_related("album").prefetch_related("artists")
        walk = walk.order_by("title", "id")
        edge = [] if rows is None else list(Track.objects.order_by("title", "id").values_list("title", "id")[rows:][:1])
        if edge:
            title, pk = edge[0]
            walk = walk.filter(title__lte=title).exclude(title=title, id__gt=pk)
        found = list(walk[start:stop])
        return None if edge and len(found) < stop - start else found

    def __getitem__(self, key: slice) -> list[Track]:
        if not isinstance(key, slice) or key.step is not None:
            raise TypeError("A search is read a slice at a time.")
        start, stop = key.start or 0, key.stop
        if stop is not None and self.plan(start, stop) == "walk":
            for rows, hashed in self._walks_to_try(stop):
                found = self._walked(start, stop, rows=rows, hashed=hashed)
                if found is not None:
                    return found
        if stop is None or not self.words:
            return list(self.queryset[start:stop])
        return self._unioned(start, stop)

    def _unioned(self, start: int, stop: int) -> list[Track]:
        """The union: each half's (id, title) pairs, sorted together, then the page's tracks by id.

        Titles travel with the ids, so that only the page's tracks are read whole: joined to every
        match instead, PostgreSQL read the whole table once a word had some thousands of matches.
        """
        by_title = self._scoped.filter(title__icontains=self.words).values_list("pk", "title")
        by_artist = self._scoped.filter(artists__name__icontains=self.words).values_list("pk", "title")
        ids = [pk for pk, _ in by_title.union(by_artist).order_by("title", "pk")[start:stop]]
        found = Track.objects.select_related("album").prefetch_related("artists").in_bulk(ids)
        return [found[pk] for pk in ids]

    def count_up_to(self, limit: int) -> int:
        """The number of matches, or `limit` when there are at least that many.

        Each index gives at most `limit` ids: a common word stops early, a rare one has few.
        """
        if not self._walks:
            counted = self.queryset.order_by().values("pk")[:limit].count()
            self._few = counted < limit
            return counted
        # Both halves in one round trip, each marked and LIMITed on its own.
        titles = self._listed.filter(title__icontains=self.words).annotate(half=Value(1)).values_list("pk", "half")
        credits = self._credits().annotate(half=Value(2)).values_list("track_id", "half")
        halves = list(titles.order_by()[:limit].union(credits.order_by()[:limit], all=True).order_by())
        titled = {pk for pk, half in halves if half == 1}
        credited = [pk for pk, half in halves if half == 2]
        found = titled | set(credited)
        if not self._lists_all and len(titled) < limit and set(credited) - titled:
            found = titled | set(self._listed.filter(pk__in=set(credited) - titled).values_list("pk", flat=True))
        if len(found) < limit and len(credited) >= limit:
            # `limit` credits (several may be one track's, or unlisted ones) gave fewer tracks.
            found = set(self.queryset.order_by().values_list("pk", flat=True)[:limit])
        self._few = len(found) < limit
        return min(len(found), limit)

    def filtered(self, tracks: QuerySet[Track], *, stop: int, in_title_order: bool = True) -> QuerySet[Track]:
        """`tracks` that match, by the plan for the first `stop` of them, unbounded; the union when
        they are ordered otherwise. For a view that orders and pages a queryset itself (the admin)."""
        if in_title_order and self.plan(0, stop) == "walk":
            return self._matching(tracks, hashed=True)  # unbounded: no per-track lookups to pile up
        return tracks.filter(pk__in=_ids_matching(self.words)) if self.words else tracks

    def count(self) -> int:
        """The exact number of matches (the union's count: every match is collected)."""
        return self.queryset.count()


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
