"""Catalog API: search the catalog; rights holders manage their own tracks, reference audio and
artwork, and their albums' artwork."""

from __future__ import annotations

from collections.abc import Callable

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAcceptable
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from accounts.models import ApiScope
from accounts.permissions import ApiAccess
from catalog import selectors
from catalog.api import serializers
from catalog.artwork import ARTWORK_CONTENT_TYPE, ArtworkRejected, upload_bytes
from catalog.models import Album, Track
from catalog.services import KEEP, TrackGone, album_artwork_set, track_artwork_set, track_update, tracks_delete
from portal.exceptions import ApiError
from portal.openapi import error_responses
from portal.pagination import CappedPageNumberPagination
from recognition.engine.audio import AudioError
from recognition.services import DuplicateRecording, reference_from_upload, track_create, track_replace_reference
from recognition.services.uploads import HTTP_STATUS_FOR


class ManagesCatalog(BasePermission):
    """Anyone signed in reads the catalog; only rights holders and staff change it."""

    message = "Only rights holders and staff manage catalog tracks."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in ("GET", "HEAD", "OPTIONS") or request.user.manages_catalog


def _audio_error(error: AudioError) -> ApiError:
    return ApiError(HTTP_STATUS_FOR.get(error.code, 422), error.code, error.message)


def _tracks():
    return selectors.track_search()


def _artwork_store(request, form, store: Callable[[bytes], object]) -> None:
    """Hand the one image of a valid artwork form to `store`, a service that checks it
    (catalog.artwork) and keeps the old artwork when it refuses."""
    data = form(data=request.data)
    data.is_valid(raise_exception=True)
    if len(request.FILES.getlist("image")) > 1:
        raise ApiError(400, "too_many_files", "Send one image per request.")
    try:
        store(upload_bytes(data.validated_data["image"]))
    except ArtworkRejected as refused:
        raise ApiError(refused.http_status, refused.code, refused.message) from None


class TrackListCreateApi(GenericAPIView):
    """Search the catalog (title, artist, ISRC); rights holders add tracks with reference audio."""

    serializer_class = serializers.TrackSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    pagination_class = CappedPageNumberPagination  # a common word matches most of the catalog
    queryset = Track.objects.none()

    @extend_schema(
        operation_id="tracks_list",
        parameters=[
            OpenApiParameter("q", str, description="Words of the title or an artist's name."),
            OpenApiParameter("isrc", str, description="An exact ISRC."),
            OpenApiParameter("mine", bool, description="Only my tracks (rights holders)."),
        ],
        responses={200: serializers.TrackSerializer(many=True), **error_responses(400, 401, 429)},
    )
    def get(self, request):
        search = serializers.TrackSearchSerializer(data=request.query_params)
        search.is_valid(raise_exception=True)
        tracks = selectors.TrackSearch(
            words=search.validated_data.get("q", ""),
            isrc=search.validated_data.get("isrc", ""),
            owner=request.user if search.validated_data["mine"] else None,
            viewer=request.user,
        )
        page = self.paginate_queryset(tracks)
        return self.get_paginated_response(
            serializers.TrackSerializer(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        operation_id="tracks_create",
        request={"multipart/form-data": serializers.TrackCreateSerializer},
        responses={201: serializers.TrackSerializer, **error_responses(400, 401, 403, 413, 415, 422, 429)},
    )
    def post(self, request):
        data = serializers.TrackCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            reference, digest = reference_from_upload(values["audio"])
            track = track_create(
                owner=request.user, reference=reference, digest=digest, audio=values["audio"],
                title=values["title"], artists=_artists(request, values), album=values.get("album") or None,
                isrc=values.get("isrc", ""), links=values.get("links", []),
                preview_allowed=values.get("preview_allowed", False),
            )  # fmt: skip
        except AudioError as error:
            raise _audio_error(error) from None
        except DuplicateRecording as error:
            raise ApiError(409, "duplicate", str(error)) from None
        return Response(
            serializers.TrackSerializer(_tracks().get(pk=track.pk), context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


def _artists(request, values) -> list[str]:
    # A multipart form repeats `artists`; a JSON body sends a list.
    if hasattr(request.data, "getlist") and request.data.getlist("artists"):
        return [name for name in request.data.getlist("artists") if name][:20]
    return values.get("artists", [])


class TrackDetailApi(GenericAPIView):
    """A track: anyone signed in reads it; its owner (or staff) changes or deletes it."""

    serializer_class = serializers.TrackSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    queryset = Track.objects.none()

    def _mine(self, request, pk) -> Track:
        # Another owner's track is a 404 to writes, exactly like a missing one.
        return get_object_or_404(selectors.tracks_visible_to(request.user), pk=pk)

    @extend_schema(
        operation_id="tracks_retrieve", responses={200: serializers.TrackSerializer, **error_responses(401, 404, 429)}
    )
    def get(self, request, pk):
        track = get_object_or_404(selectors.track_search(viewer=request.user), pk=pk)
        return Response(serializers.TrackSerializer(track, context={"request": request}).data)

    @extend_schema(
        operation_id="tracks_update",
        request=serializers.TrackWriteSerializer,
        responses={200: serializers.TrackSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request, pk):
        track = self._mine(request, pk)
        data = serializers.TrackWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        track_update(
            track=track,
            title=values.get("title"),
            artists=values.get("artists"),
            album=values.get("album", KEEP),
            isrc=values.get("isrc"),
            links=values.get("links"),
            preview_allowed=values.get("preview_allowed"),
        )
        return Response(serializers.TrackSerializer(_tracks().get(pk=track.pk), context={"request": request}).data)

    @extend_schema(operation_id="tracks_destroy", responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request, pk):
        if not tracks_delete(tracks=[self._mine(request, pk)]):
            raise TrackGone("This track no longer exists.")  # another request deleted it first
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrackAudioApi(GenericAPIView):
    """Replace a track's reference recording (its hashes are replaced in the same transaction)."""

    serializer_class = serializers.TrackAudioSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    parser_classes = [MultiPartParser]
    queryset = Track.objects.none()

    @extend_schema(
        operation_id="tracks_audio_replace",
        request={"multipart/form-data": serializers.TrackAudioSerializer},
        responses={200: serializers.TrackSerializer, **error_responses(400, 401, 403, 404, 413, 415, 422, 429)},
    )
    def put(self, request, pk):
        track = get_object_or_404(selectors.tracks_visible_to(request.user), pk=pk)
        data = serializers.TrackAudioSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["audio"]
        try:
            reference, digest = reference_from_upload(upload)
            track_replace_reference(track=track, reference=reference, digest=digest, audio=upload)
        except AudioError as error:
            raise _audio_error(error) from None
        except DuplicateRecording as error:
            raise ApiError(409, "duplicate", str(error)) from None
        return Response(serializers.TrackSerializer(_tracks().get(pk=track.pk), context={"request": request}).data)


class TrackArtworkApi(GenericAPIView):
    """Set or remove a track's own artwork (without it, listeners see its album's)."""

    serializer_class = serializers.TrackArtworkSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    parser_classes = [MultiPartParser]
    queryset = Track.objects.none()

    @extend_schema(
        operation_id="tracks_artwork_set",
        request={"multipart/form-data": serializers.TrackArtworkSerializer},
        responses={200: serializers.TrackSerializer, **error_responses(400, 401, 403, 404, 413, 415, 422, 429)},
    )
    def put(self, request, pk):
        track = get_object_or_404(selectors.tracks_visible_to(request.user), pk=pk)
        _artwork_store(
            request, serializers.TrackArtworkSerializer, lambda image: track_artwork_set(track=track, image=image)
        )
        return Response(serializers.TrackSerializer(_tracks().get(pk=track.pk), context={"request": request}).data)

    @extend_schema(
        operation_id="tracks_artwork_remove",
        request=None,
        responses={200: serializers.TrackSerializer, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request, pk):
        track = get_object_or_404(selectors.tracks_visible_to(request.user), pk=pk)
        track_artwork_set(track=track, image=None)
        return Response(serializers.TrackSerializer(_tracks().get(pk=track.pk), context={"request": request}).data)


class AlbumListApi(GenericAPIView):
    """The albums a rights holder may manage (their own; all of them for staff), to find their ids."""

    serializer_class = serializers.AlbumSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    queryset = Album.objects.none()

    @extend_schema(
        operation_id="albums_list",
        responses={200: serializers.AlbumSerializer(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request):
        albums = selectors.albums_visible_to(request.user).select_related("artist").order_by("title", "id")
        page = self.paginate_queryset(albums)
        return self.get_paginated_response(serializers.AlbumSerializer(page, many=True).data)


class ImageOrJson(DefaultContentNegotiation):
    """The artwork is a JPEG whatever an image loader's Accept says; errors still render as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


_ARTWORK_FORM = {"multipart/form-data": serializers.AlbumArtworkSerializer}
_ARTWORK_SET = {200: serializers.AlbumSerializer, **error_responses(400, 401, 403, 404, 413, 415, 422, 429)}


class AlbumArtworkApi(GenericAPIView):
    """An album's artwork, which its tracks without their own show: its owner (or staff) fetches,
    sets, replaces or removes it; anyone else gets 404. The image is checked and re-encoded as the
    admin's is (catalog.services.album_artwork_set); a refused one leaves the old artwork as it was."""

    serializer_class = serializers.AlbumArtworkSerializer
    permission_classes = [ApiAccess, ManagesCatalog]
    api_scope = ApiScope.CATALOG
    parser_classes = [MultiPartParser]
    content_negotiation_class = ImageOrJson
    queryset = Album.objects.none()

    def _mine(self, request, pk) -> Album:
        return get_object_or_404(selectors.albums_visible_to(request.user).select_related("artist"), pk=pk)

    @extend_schema(
        operation_id="albums_artwork_retrieve",
        responses={
            (200, ARTWORK_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="A square JPEG."),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request, pk):
        album = self._mine(request, pk)
        if not album.artwork:
            raise ApiError(status.HTTP_404_NOT_FOUND, "not_found", "This album has no artwork.")
        try:
            response = FileResponse(album.artwork.open("rb"), content_type=ARTWORK_CONTENT_TYPE)
        except FileNotFoundError:
            raise ApiError(status.HTTP_404_NOT_FOUND, "not_found", "This album has no artwork.") from None
        # The URL changes with the file (selectors.album_artwork_url): a browser may keep each one.
        response["Cache-Control"] = "private, max-age=86400"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox; default-src 'none'"
        return response

    @extend_schema(operation_id="albums_artwork_set", request=_ARTWORK_FORM, responses=_ARTWORK_SET)
    def put(self, request, pk):
        album = self._mine(request, pk)
        _artwork_store(
            request, serializers.AlbumArtworkSerializer, lambda image: album_artwork_set(album=album, image=image)
        )
        return Response(serializers.AlbumSerializer(self._mine(request, pk)).data)

    @extend_schema(operation_id="albums_artwork_upload", request=_ARTWORK_FORM, responses=_ARTWORK_SET)
    def post(self, request, pk):
        """The same as PUT, for clients that send forms only by POST."""
        return self.put(request, pk)

    @extend_schema(
        operation_id="albums_artwork_remove",
        request=None,
        responses={200: serializers.AlbumSerializer, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request, pk):
        album_artwork_set(album=self._mine(request, pk), image=None)
        return Response(serializers.AlbumSerializer(self._mine(request, pk)).data)
