"""Public catalog pages: what a match links to."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from catalog import selectors


def track(request: HttpRequest, pk: int) -> HttpResponse:
    """A track's public details (never its reference audio); an unfinished upload is a 404."""
    track = get_object_or_404(
        selectors.tracks_listed_to(request.user).select_related("album").prefetch_related("artists"), pk=pk
    )
    return render(request, "catalog/track.html", {"track": track})
