"""Reports API: GET /api/v1/reports/plays (rows per track and source) and
GET /api/v1/reports/plays/times (a row's plays one by one), thin views over
recognition.reports.selectors."""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission

from accounts.models import ApiScope
from accounts.permissions import ApiAccess
from portal.exceptions import ApiError
from portal.openapi import error_responses
from portal.spreadsheets import streamed_lines
from recognition.api.serializers import pitch_field, speed_field
from recognition.reports import export, selectors
from recognition.reports.filters import PLAY_SOURCES, FilterError, ReportFilters, report_filters


def _filters(request) -> ReportFilters:
    """The query's filters; a 400 when they do not parse, a 404 for a track not in my reports."""
    try:
        filters = report_filters(request.query_params)
    except FilterError as error:
        raise ApiError(status.HTTP_400_BAD_REQUEST, "invalid", error.message) from None
    if filters.track_id is not None and not selectors.report_tracks(request.user).filter(pk=filters.track_id).exists():
        raise Http404
    return filters


_RANGE_PARAMETERS = [
    OpenApiParameter(
        "from",
        OpenApiTypes.STR,
        description="First day (2026-12-01) or instant (ISO 8601), inclusive; default 29 days before `to`.",
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.STR,
        description="Last day or instant, inclusive; default today (UTC). A report covers at most 366 days.",
    ),
]


class CanReadReports(BasePermission):
    """Reports are for rights holders (their own tracks) and staff (every track)."""

    message = "Reports are for rights holder and staff accounts."

    def has_permission(self, request, view):
        return selectors.reports_allowed(request.user)


class JsonWhateverTheFormat(BaseContentNegotiation):
    """JSON, whatever `format` says: `format=csv` is this view's own choice, and errors stay JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ReportPlaySerializer(serializers.Serializer):
    """One track heard from one source within the report's range."""

    track_id = serializers.IntegerField()
    title = serializers.CharField()
    artist = serializers.CharField(allow_blank=True, help_text="The track's artists, comma-separated.")
    source = serializers.CharField(help_text="`monitor:<id>` (one monitor), `upload`, `api` or `listen`.")
    source_name = serializers.CharField(help_text="The monitor's name, or Uploads, API, Listens.")
    plays = serializers.IntegerField(help_text="Detections (not disputed) or recognitions that heard it.")
    played_s = serializers.FloatField(help_text="Seconds heard in all, summed over the plays.")
    first_heard_at = serializers.DateTimeField()
    last_heard_at = serializers.DateTimeField()


class ReportPlaysSerializer(serializers.Serializer):
    """A report: every row at once, most plays first (rows are per track and source, not per play)."""

    count = serializers.IntegerField()
    results = ReportPlaySerializer(many=True)


class ReportPlaysApi(GenericAPIView):
    """Where my tracks were heard: one row per track and source (staff: every track)."""

    serializer_class = ReportPlaysSerializer
    permission_classes = [ApiAccess, CanReadReports]
    api_scope = ApiScope.CATALOG
    content_negotiation_class = JsonWhateverTheFormat
    pagination_class = None

    @extend_schema(
        operation_id="reports_plays",
        parameters=[
            *_RANGE_PARAMETERS,
            OpenApiParameter("track", OpenApiTypes.INT, description="Only this track (one of mine: else 404)."),
            OpenApiParameter(
                "source",
                OpenApiTypes.STR,
                description="Only `listen`, `upload`, `api`, `monitor` (every monitor) or `monitor:<id>`.",
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv` for CSV."),
        ],
        responses={
            (200, "application/json"): OpenApiResponse(ReportPlaysSerializer, description="Rows, most plays first."),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The same rows as CSV (`format=csv`)."),
            **error_responses(400, 401, 403, 404, 429),
        },
        examples=[
            OpenApiExample(
                "a track heard by a monitor",
                response_only=True,
                status_codes=["200"],
                value={
                    "count": 1,
                    "results": [
                        {
                            "track_id": 12,
                            "title": "Harbour Lights",
                            "artist": "The Examples",
                            "source": "monitor:7",
                            "source_name": "Radio One",
                            "plays": 31,
                            "played_s": 5580.0,
                            "first_heard_at": "2026-11-01T06:12:03+00:00",
                            "last_heard_at": "2026-11-30T22:41:10+00:00",
                        }
                    ],
                },
            )
        ],
    )
    def get(self, request):
        filters = _filters(request)
        wanted = request.query_params.get("format", "json")
        if wanted not in ("json", "csv"):
            raise ApiError(status.HTTP_400_BAD_REQUEST, "invalid", "`format` is json or csv.")
        # Both stream from a server-side cursor: a staff month's rows would fill the web process.
        rows = selectors.report_rows(request.user, filters)
        if wanted == "csv":
            response = StreamingHttpResponse(
                streamed_lines(request._request, export.report_csv_lines(rows)), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = 'attachment; filename="plays.csv"'
            return response
        return StreamingHttpResponse(
            streamed_lines(request._request, export.report_json_lines(rows)), content_type="application/json"
        )


class PlayTimeSerializer(serializers.Serializer):
    """One play of a track by a listen, an upload or an API clip: when, how long, how changed."""

    heard_at = serializers.DateTimeField(help_text="When the recognition that heard it was asked for.")
    played_s = serializers.FloatField(help_text="Seconds heard.")
    offset_s = serializers.FloatField(allow_null=True, help_text="Where in the track the play starts.")
    start_s = serializers.FloatField(help_text="Where in the recording it starts (uploads; 0 for clips and listens).")
    speed = speed_field()
    pitch_semitones = pitch_field()


class ReportPlayTimesApi(GenericAPIView):
    """The plays behind one row of the report: one track from `listen`, `upload` or `api`, oldest
    first, each with how it was changed from the track; never who listened or uploaded."""

    serializer_class = PlayTimeSerializer
    permission_classes = [ApiAccess, CanReadReports]
    api_scope = ApiScope.CATALOG

    @extend_schema(
        operation_id="reports_play_times",
        parameters=[
            *_RANGE_PARAMETERS,
            OpenApiParameter(
                "track", OpenApiTypes.INT, required=True, description="The track (one of mine: else 404)."
            ),
            OpenApiParameter(
                "source", OpenApiTypes.STR, required=True, enum=list(PLAY_SOURCES), description="Which recognitions."
            ),
        ],
        responses={200: PlayTimeSerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request):
        filters = _filters(request)
        if filters.track_id is None or filters.source not in PLAY_SOURCES:
            raise ApiError(
                status.HTTP_400_BAD_REQUEST, "invalid", "Give a `track` and a `source`: listen, upload or api."
            )
        page = self.paginate_queryset(selectors.play_times(request.user, filters))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
