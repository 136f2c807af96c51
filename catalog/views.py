"""Public catalog pages: what a match links to, and the artwork and preview a match shows."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from catalog import selectors
from catalog.artwork import ARTWORK_CONTENT_TYPE
from catalog.links import links_named
from catalog.models import Track
from portal.ranges import RangeNotSatisfiable, parse_range


def track(request: HttpRequest, pk: int) -> HttpResponse:
    """A track's public details as the listen page's card shows them: artwork, the owner's links and
    a preview when the owner allows one (never the reference audio); an unfinished upload is a 404."""
    track = get_object_or_404(
        selectors.tracks_listed_to(request.user).select_related("album").prefetch_related("artists"), pk=pk
    )
    context = {
        "track": track,
        "artwork_url": selectors.track_artwork_url(track),
        "preview_url": selectors.track_preview_url(track),
        "links": links_named(track.links),
    }
    return render(request, "catalog/track.html", context)


@require_safe
def track_artwork(request: HttpRequest, pk: int) -> HttpResponse:
    """The artwork a track shows (its own, else its album's): a JPEG re-encoded on upload."""
    track = get_object_or_404(selectors.tracks_listed_to(request.user).select_related("album"), pk=pk)
    name = selectors.track_artwork_name(track)
    if not name:
        raise Http404("This track has no artwork.")
    return _stored_file(request, Track.artwork.field.storage, name, ARTWORK_CONTENT_TYPE)


@require_safe
def track_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """A track's preview (an MP3 excerpt of its reference), only while its owner allows it."""
    track = get_object_or_404(selectors.tracks_listed_to(request.user), pk=pk)
    if not (track.preview_allowed and track.preview):
        raise Http404("This track has no preview.")
    return _stored_file(request, Track.preview.field.storage, track.preview.name or "", "audio/mpeg")


def _stored_file(request: HttpRequest, storage, name: str, content_type: str) -> HttpResponse:
    """A small stored file (artwork, a preview: a few hundred KB) whole or in the one byte range
    asked for (portal.ranges: Safari plays `<audio>` only from a server that answers ranges).

    Read through the storage, whatever it is: on S3 a redirect to a signed URL would make the
    demo song's fetch() cross-origin, which a bucket without CORS refuses.
    """
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("Not stored.") from None
    try:
        wanted = parse_range(request.headers.get("Range", ""), len(data))
    except RangeNotSatisfiable:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{len(data)}"
        return refused
    first, last = wanted or (0, len(data) - 1)
    response = HttpResponse(data[first : last + 1], status=206 if wanted else 200, content_type=content_type)
    if wanted:
        response["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    response["Accept-Ranges"] = "bytes"
    # The URL changes with the file (selectors.track_cards); a removed permission or file is a
    # 404 on the next request, so a day's cache by the listener's browser is the most it keeps.
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = "inline"
    # Re-encoded on the way in; and whatever the bytes were, they never run as a page of the site.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
