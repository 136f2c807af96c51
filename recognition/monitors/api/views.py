"""Monitors API: thin views over recognition.monitors.services and selectors."""

from __future__ import annotations

from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response

from accounts.models import ApiScope
from accounts.permissions import ApiAccess
from portal.exceptions import ApiError
from portal.openapi import ErrorSerializer, error_responses
from portal.spreadsheets import streamed_lines
from recognition.monitors import selectors, services
from recognition.monitors.api import permissions, serializers
from recognition.monitors.models import Detection, Monitor
from recognition.monitors.periods import PeriodInvalid, period_parse


def _refused(refused: services.MonitorRefused) -> ApiError:
    return ApiError(status.HTTP_400_BAD_REQUEST, refused.code, refused.message)


def _monitor(request, pk) -> Monitor:
    return get_object_or_404(selectors.monitors_visible_to(request.user), pk=pk)


class MonitorListCreateApi(GenericAPIView):
    """Watch a live stream or a venue device around the clock; list my monitors (staff: all)."""

    serializer_class = serializers.MonitorSerializer
    permission_classes = [ApiAccess, permissions.CanMonitor]
    api_scope = ApiScope.MONITORS
    queryset = Monitor.objects.none()

    @extend_schema(
        operation_id="monitors_create",
        request=serializers.MonitorInputSerializer,
        responses={
            201: OpenApiResponse(
                serializers.MonitorSerializer, description="Created; a device's `device_token` is shown only now."
            ),
            **error_responses(400, 401, 403, 429),
        },
    )
    def post(self, request):
        data = serializers.MonitorInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            monitor, token = services.monitor_create(
                owner=request.user,
                name=data.validated_data["name"],
                kind=data.validated_data["kind"],
                source_url=data.validated_data.get("source_url", ""),
            )
        except services.MonitorRefused as refused:
            raise _refused(refused) from None
        body = selectors.monitor_summary(monitor, device_token=token)
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})

    @extend_schema(
        operation_id="monitors_list",
        responses={200: serializers.MonitorSerializer(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.monitors_visible_to(request.user).order_by("name", "id"))
        return self.get_paginated_response([selectors.monitor_summary(monitor) for monitor in page])


class MonitorDetailApi(GenericAPIView):
    """One of my monitors: its state; rename, pause or resume it; delete it with its log."""

    serializer_class = serializers.MonitorSerializer
    permission_classes = [ApiAccess, permissions.CanMonitor]
    api_scope = ApiScope.MONITORS
    queryset = Monitor.objects.none()

    @extend_schema(
        operation_id="monitors_retrieve",
        responses={200: serializers.MonitorSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, pk):
        return Response(selectors.monitor_summary(_monitor(request, pk)))

    @extend_schema(
        operation_id="monitors_update",
        request=serializers.MonitorUpdateSerializer,
        responses={200: serializers.MonitorSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request, pk):
        monitor = _monitor(request, pk)
        data = serializers.MonitorUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        monitor = services.monitor_update(
            monitor=monitor, name=data.validated_data.get("name"), paused=data.validated_data.get("paused")
        )
        return Response(selectors.monitor_summary(monitor))

    @extend_schema(operation_id="monitors_destroy", responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request, pk):
        services.monitor_delete(monitor=_monitor(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MonitorDeviceTokenApi(GenericAPIView):
    """Give a device monitor a new token (shown once); the old token and its open socket stop."""

    serializer_class = serializers.DeviceTokenSerializer
    permission_classes = [ApiAccess, permissions.CanMonitor]
    api_scope = ApiScope.MONITORS
    queryset = Monitor.objects.none()

    @extend_schema(
        operation_id="monitors_device_token_rotate",
        request=None,
        responses={200: serializers.DeviceTokenSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def post(self, request, pk):
        monitor = _monitor(request, pk)
        if monitor.kind != Monitor.Kind.DEVICE:
            raise ApiError(status.HTTP_400_BAD_REQUEST, "not_a_device", "Only device monitors have a token.")
        return Response({"device_token": services.device_token_rotate(monitor=monitor)})


class MonitorDetectionsApi(GenericAPIView):
    """A monitor's log: one row per continuous play, newest first."""

    serializer_class = serializers.DetectionSerializer
    permission_classes = [ApiAccess, permissions.CanMonitor]
    api_scope = ApiScope.MONITORS
    queryset = Detection.objects.none()

    @extend_schema(
        operation_id="monitors_detections",
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="Only detections started or changed at or after this ISO 8601 time (poll with the "
                "latest `updated_at` you saw).",
            )
        ],
        responses={200: serializers.DetectionSerializer(many=True), **error_responses(400, 401, 403, 404, 429)},
    )
    def get(self, request, pk):
        monitor = _monitor(request, pk)
        since = None
        raw = request.query_params.get("since", "").strip()
        if raw:
            if len(raw) > 6 and raw[-6] == " ":  # an unescaped "+00:00" arrives as " 00:00"
                raw = f"{raw[:-6]}+{raw[-5:]}"
            try:
                since = parse_datetime(raw)
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                raise ApiError(
                    status.HTTP_400_BAD_REQUEST, "invalid", "`since` is an ISO 8601 time with a zone (…Z or +00:00)."
                )
        page = self.paginate_queryset(selectors.detections_of(monitor, since=since))
        return self.get_paginated_response([selectors.detection_summary(detection) for detection in page])


class AnyAccept(BaseContentNegotiation):
    """Audio answers whatever a media element's Accept says (errors still render as JSON)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DetectionEvidenceApi(GenericAPIView):
    """The ~10 s of audio a detection was made from, for the monitor's owner, the track's rights
    holder and staff (404 for anyone else)."""

    content_negotiation_class = AnyAccept
    api_scope = ApiScope.MONITORS
    queryset = Detection.objects.none()

    @extend_schema(
        operation_id="detections_evidence",
        responses={
            (200, "audio/ogg"): OpenApiResponse(OpenApiTypes.BINARY, description="Ogg/Opus audio."),
            **error_responses(401, 404, 429),
        },
    )
    def get(self, request, pk):
        detection = selectors.detection_evidence_for(request.user, pk)
        if detection is None:
            raise ApiError(status.HTTP_404_NOT_FOUND, "not_found", "No such evidence.")
        response = FileResponse(detection.evidence.open("rb"), content_type="audio/ogg")
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _detection(request, pk) -> Detection:
    detection = selectors.detections_visible_to(request.user).filter(pk=pk).first()
    if detection is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "not_found", "No such detection.")
    return detection


def _dispute_refused(refused: services.DisputeRefused) -> ApiError:
    if refused.code == "forbidden":  # visible yet refused cannot happen today; never say more than 404
        return ApiError(status.HTTP_404_NOT_FOUND, "not_found", "No such detection.")
    code = status.HTTP_409_CONFLICT if refused.code in {"already_disputed", "not_disputed"} else 400
    return ApiError(code, refused.code, refused.message)


_CONFLICT = OpenApiResponse(
    ErrorSerializer, description="Already disputed (`already_disputed`), or not disputed (`not_disputed`)."
)


class DetectionDetailApi(GenericAPIView):
    """One detection, for the monitor's owner, the track's rights holder and staff (404 for anyone
    else): the monitor by name, whether it is disputed or was found later, and its audit trail."""

    serializer_class = serializers.DetectionDetailSerializer
    permission_classes = [ApiAccess, permissions.CanSeeDetections]
    api_scope = ApiScope.MONITORS
    queryset = Detection.objects.none()

    @extend_schema(
        operation_id="detections_retrieve",
        responses={200: serializers.DetectionDetailSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, pk):
        return Response(selectors.detection_detail(_detection(request, pk), request.user))


class DetectionDisputeApi(GenericAPIView):
    """Mark a detection "not this track", with a reason: it leaves the reports and play logs, and
    the audit trail keeps who, when and why."""

    serializer_class = serializers.DetectionDetailSerializer
    permission_classes = [ApiAccess, permissions.CanSeeDetections]
    api_scope = ApiScope.MONITORS
    queryset = Detection.objects.none()

    @extend_schema(
        operation_id="detections_dispute",
        request=serializers.DisputeInputSerializer,
        responses={
            200: serializers.DetectionDetailSerializer,
            409: _CONFLICT,
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def post(self, request, pk):
        detection = _detection(request, pk)
        data = serializers.DisputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.detection_dispute(detection=detection, user=request.user, reason=data.validated_data["reason"])
        except services.DisputeRefused as refused:
            raise _dispute_refused(refused) from None
        return Response(selectors.detection_detail(detection, request.user))


class DetectionRestoreApi(GenericAPIView):
    """Undo a dispute: the detection is back in the reports and play logs; the trail keeps both."""

    serializer_class = serializers.DetectionDetailSerializer
    permission_classes = [ApiAccess, permissions.CanSeeDetections]
    api_scope = ApiScope.MONITORS
    queryset = Detection.objects.none()

    @extend_schema(
        operation_id="detections_restore",
        request=None,
        responses={200: serializers.DetectionDetailSerializer, 409: _CONFLICT, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request, pk):
        detection = _detection(request, pk)
        try:
            services.detection_restore(detection=detection, user=request.user)
        except services.DisputeRefused as refused:
            raise _dispute_refused(refused) from None
        return Response(selectors.detection_detail(detection, request.user))


class MonitorLogApi(GenericAPIView):
    """A monitor's play log (cue sheet) for a period, oldest first; disputed plays left out.

    `format=csv` is this view's own parameter (the whole period, streamed), so content negotiation
    always picks JSON, which errors are rendered in."""

    serializer_class = serializers.PlayLogRowSerializer
    permission_classes = [ApiAccess, permissions.CanMonitor]
    api_scope = ApiScope.MONITORS
    content_negotiation_class = AnyAccept
    queryset = Detection.objects.none()
    LOG_DAYS = 7

    @extend_schema(
        operation_id="monitors_log",
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.STR, description="A date (YYYY-MM-DD, UTC) or an ISO 8601 time with a zone."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.STR, description="A date (that whole day included) or an exclusive ISO 8601 time."
            ),
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="`csv`: the whole period."),
        ],
        responses={
            (200, "application/json"): serializers.PlayLogRowSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The play log as CSV."),
            **error_responses(400, 401, 403, 404, 429),
        },
    )
    def get(self, request, pk):
        monitor = _monitor(request, pk)
        try:
            period = period_parse(
                request.query_params.get("from", ""), request.query_params.get("to", ""), default_days=self.LOG_DAYS
            )
        except PeriodInvalid as invalid:
            raise ApiError(status.HTTP_400_BAD_REQUEST, "invalid", str(invalid)) from None
        wanted = request.query_params.get("format", "json")
        if wanted == "csv":
            lines = selectors.play_log_csv(monitor, period)
            response = StreamingHttpResponse(
                streamed_lines(request._request, lines), content_type="text/csv; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{selectors.play_log_filename(monitor, period)}"'
            return response
        if wanted != "json":
            raise ApiError(status.HTTP_400_BAD_REQUEST, "invalid", "`format` is `json` or `csv`.")
        page = self.paginate_queryset(selectors.play_log(monitor, period))
        return self.get_paginated_response([selectors.play_log_row(play) for play in page])
