"""Writes of catalog rows: a track's metadata, artwork and preview, the lock that orders writes
to one track, deletion; an album's details and artwork.

Every interface (the API, the admin, the commands) writes tracks through these functions and
recognition.services (reference audio and fingerprints, which call these for the rest), so the
lock below orders all of them, not only the API's.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.http import Http404

from accounts.models import User
from catalog.artwork import artwork_from_bytes
from catalog.links import links_cleaned
from catalog.models import Album, Artist, Track
from recognition.engine import audio

__all__ = [
    "KEEP",
    "PREVIEW_SECONDS",
    "AlbumGone",
    "Keep",
    "TrackGone",
    "album_artwork_set",
    "album_update",
    "track_artwork_set",
    "track_lock",
    "track_preview_refresh",
    "track_update",
    "tracks_delete",
]

logger = logging.getLogger(__name__)

# The length of a preview: what music stores play of a song before it is bought, and more than
# the 12 to 20 s the listen page hears, so the "play a demo song" control never runs out.
PREVIEW_SECONDS = 30.0


class TrackGone(Http404):
    """The track was deleted while this write waited for it. An Http404, so that every interface
    (API, admin) answers "not found" without a handler of its own."""


class AlbumGone(Http404):
    """The album was deleted while this write waited for it (an Http404, like TrackGone)."""


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
    links: Sequence[str] | None = None,
    preview_allowed: bool | None = None,
) -> Track:
    """Change a track's metadata, never its audio or fingerprints; raise TrackGone if it was
    deleted meanwhile. Arguments left out (None, or KEEP for the album) leave their field as is.

    Artists and the album are rows of the owner's catalog or names, found or created in it; an
    album of None or "" clears it. `owner` gives the track to another rights holder (staff do
    that in the admin). `links` replace the track's links (ValidationError for a URL that is not
    plain http(s)); allowing a preview cuts it from the stored reference, forbidding it deletes it.
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
    if links is not None:
        track.links = links_cleaned(links)
        fields.append("links")
    if preview_allowed is not None:
        track.preview_allowed = preview_allowed
        fields.append("preview_allowed")
    track.full_clean(exclude=["owner", "audio", "sha256", "artwork", "preview"])
    track.save(update_fields=fields)
    if artists is not None:
        track.artists.set([_artist_row(owner=track.owner, artist=artist) for artist in artists])
    if preview_allowed is not None:
        track_preview_refresh(track=track)
    return track


def track_preview_refresh(*, track: Track, reference_replaced: bool = False) -> str:
    """Make the stored preview agree with the track: an excerpt of its stored reference when its
    owner allows previews, none otherwise (or when the reference is not stored, or unreadable).
    Return the name of the file it stored ("" for none).

    Called in the transaction that changed the flag or (`reference_replaced`) the reference,
    which holds the track's lock. A file replaced or dropped is deleted after commit; one written
    by a transaction that then rolls back is the caller's to remove (else `storage_sweep`'s).
    """
    row = Track.objects.filter(pk=track.pk).values("audio", "preview", "preview_allowed", "duration_s").get()
    wanted = row["preview_allowed"] and bool(row["audio"])
    if not (wanted or row["preview"]) or (wanted and row["preview"] and not reference_replaced):
        return ""  # nothing to make or to drop
    track.audio.name = row["audio"]
    excerpt = _preview_excerpt(track, row["duration_s"]) if wanted else None
    if excerpt is not None:
        track.preview.save("preview.mp3", ContentFile(excerpt), save=False)
    else:
        track.preview = ""
    made = track.preview.name or ""
    _store_name(track, "preview", made)
    if row["preview"] and row["preview"] != made:
        transaction.on_commit(functools.partial(_delete_files, [row["preview"]]))
    return made


def _preview_excerpt(track: Track, duration_s: float | None) -> bytes | None:
    # From 30 % in, where most songs have left their intro, unless that would run past the end.
    length_s = duration_s or PREVIEW_SECONDS
    start_s = max(0.0, min(0.3 * length_s, length_s - PREVIEW_SECONDS))
    limits = audio.DecodeLimits(
        timeout_s=settings.EARSHOT_DECODE_TIMEOUT_S, cpu_s=int(settings.EARSHOT_DECODE_TIMEOUT_S)
    )
    try:
        with _local_path(track.audio) as path:
            return audio.excerpt_mp3(path, start_s=start_s, seconds=min(PREVIEW_SECONDS, length_s), limits=limits)
    except (audio.AudioError, OSError) as error:
        logger.warning("track %s: no preview: %s", track.pk, error)
        return None


@contextlib.contextmanager
def _local_path(stored: FieldFile) -> Iterator[Path]:
    """A path on local disk of a stored file: the file itself, or a temporary copy (S3)."""
    try:
        local = Path(stored.path)
    except NotImplementedError:  # a storage without paths
        local = None
    if local is not None:
        yield local
        return
    with stored.open("rb"), tempfile.NamedTemporaryFile(suffix=Path(stored.name or "").suffix[:10]) as copy:
        for chunk in stored.chunks():
            copy.write(chunk)
        copy.flush()
        yield Path(copy.name)


@transaction.atomic
def track_artwork_set(*, track: Track, image: bytes | None) -> Track:
    """Give a track its own artwork (any image catalog.artwork accepts; ArtworkRejected otherwise)
    or, with None, remove it so that its album's shows; raise TrackGone if it was deleted."""
    track_lock(track_id=track.pk)
    return _artwork_set(track, image)


@transaction.atomic
def album_artwork_set(*, album: Album, image: bytes | None) -> Album:
    """Give an album its artwork (its tracks without their own show it), or remove it with None;
    raise ArtworkRejected for an image catalog.artwork refuses (the old artwork stays), AlbumGone
    if the album was deleted."""
    if not Album.objects.select_for_update().filter(pk=album.pk).values_list("pk", flat=True):
        raise AlbumGone("This album no longer exists.")
    return _artwork_set(album, image)


def _artwork_set[Row: (Track, Album)](row: Row, image: bytes | None) -> Row:
    # Re-encoded before the lock's transaction writes anything: a refused image leaves no trace.
    jpeg = artwork_from_bytes(image) if image is not None else None
    replaced = type(row).objects.filter(pk=row.pk).values_list("artwork", flat=True).get()
    if jpeg is not None:
        row.artwork.save("artwork.jpg", ContentFile(jpeg), save=False)
    else:
        row.artwork = ""
    made = row.artwork.name or ""
    _store_name(row, "artwork", made)
    if replaced and replaced != made:
        transaction.on_commit(functools.partial(_delete_files, [replaced]))
    return row


def album_update(*, album: Album, release_year: int | None = None, label: str | None = None) -> Album:
    """Change an album's year or label; arguments left out (None) leave their field as is."""
    fields = ["updated_at"]
    if release_year is not None:
        album.release_year = release_year
        fields.append("release_year")
    if label is not None:
        album.label = label[:200]
        fields.append("label")
    album.save(update_fields=fields)
    return album


def _store_name(row: Track | Album, field: str, name: str) -> None:
    """Write a file column alone (a save() would write back whatever else the object holds);
    delete the file just stored if that write fails."""
    try:
        type(row).objects.filter(pk=row.pk).update(**{field: name})
    except BaseException:
        _delete_files([name])
        raise


def _delete_files(names: Iterable[str]) -> None:
    storage = Track.audio.field.storage
    for name in names:
        if name:
            storage.delete(name)


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
    names = [file.name for track in tracks for file in (track.audio, track.artwork, track.preview) if file.name]
    with transaction.atomic():
        # Rows locked in one order first (as track_lock): concurrent deletions wait, then find none.
        locked = list(
            Track.objects.select_for_update()
            .filter(pk__in=[t.pk for t in tracks])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        _, deleted = Track.objects.filter(pk__in=locked).delete()
        transaction.on_commit(functools.partial(_delete_files, names))
    return deleted.get(Track._meta.label, 0)
