"""Recognition API: thin views over recognition.services (parse, check permission, call, render)."""

from __future__ import annotations

import io
import wave

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.models import ApiScope
from accounts.permissions import ApiAccess
from portal.exceptions import ApiError
from portal.openapi import error_responses
from recognition.api import permissions, serializers
from recognition.models import Recognition, Webhook
from recognition.services.uploads import QuotaExceeded, UploadRejected, recognition_submit, upload_delete
from recognition.services.webhooks import (
    WebhookQuotaError,
    WebhookUrlError,
    recognition_payload,
    webhook_create,
    webhook_delete,
    webhook_enable,
    webhook_rotate_secret,
)

PCM_TYPES = {"audio/pcm", "application/octet-stream"}


def _render(job: Recognition) -> dict:
    payload = recognition_payload(job)
    payload["url"] = reverse("api:recognition", args=[job.pk])
    return payload


def _upload_from(request) -> SimpleUploadedFile:
    """The media of a request: one multipart `file`, or a raw little-endian 16-bit mono PCM body."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type in PCM_TYPES:
        # Raw samples say nothing of their rate, and a wrong guess is no error but a silent
        # "no match": the rate is required, never assumed.
        if "sample_rate" not in request.query_params:
            raise ApiError(
                400,
                "missing_sample_rate",
                "A raw PCM body needs its rate in the `sample_rate` query parameter, in Hz from 8000 to 48000 "
                "(e.g. /api/v1/recognitions?sample_rate=16000).",
            )
        try:
            rate = int(request.query_params["sample_rate"])
        except ValueError:
            rate = 0
        if not 8000 <= rate <= 48000:
            raise ApiError(400, "invalid", "sample_rate must be an integer from 8000 to 48000.")
        body = request.body
        if not body or len(body) % 2:
            raise ApiError(400, "invalid", "A PCM body holds whole 16-bit samples.")
        return SimpleUploadedFile("clip.wav", _wav(np.frombuffer(body, "<i2"), rate), "audio/wav")
    if not content_type.startswith("multipart/"):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send multipart/form-data with a `file`, or audio/pcm (16-bit little-endian mono).",
        )
    files = request.FILES.getlist("file")
    if len(files) != 1:
        raise ApiError(
            400,
            "missing_file" if not files else "too_many_files",
            "Send the media in one multipart field named `file`." if not files else "Send one file per request.",
        )
    return files[0]


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


class RecognitionListCreateApi(GenericAPIView):
    """Recognise a clip (answered at once) or a long recording (a job); list my recognitions."""

    serializer_class = serializers.RecognitionSerializer
    api_scope = ApiScope.RECOGNIZE
    queryset = Recognition.objects.none()

    @extend_schema(
        operation_id="recognitions_create",
        request={"multipart/form-data": serializers.RecognitionInputSerializer, "audio/pcm": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "sample_rate", int, description="Rate of a raw PCM body in Hz, 8000 to 48000; required with one."
            )
        ],
        responses={
            200: OpenApiResponse(serializers.RecognitionSerializer, description="A clip of up to 30 s: the answer."),
            202: OpenApiResponse(
                serializers.RecognitionSerializer,
                description="Longer media: a job; poll its `url` or wait for the webhook.",
            ),
            **error_responses(400, 401, 403, 409, 413, 415, 422, 429),
        },
        examples=[
            OpenApiExample(
                "match",
                response_only=True,
                status_codes=["200"],
                value={
                    "id": "0b8e0b7e-1c1a-4c8b-9a53-0d3f5b1e2a10",
                    "status": "done",
                    "match": {
                        "track_id": 12,
                        "title": "Harbour Lights",
                        "artist": "The Examples",
                        "offset_s": 83.2,
                        "confidence": 0.999999,
                        "speed": 1.02,
                        "pitch_semitones": None,
                    },
                    "segments": [],
                    "duration_s": 6.0,
                    "url": "/api/v1/recognitions/0b8e0b7e-1c1a-4c8b-9a53-0d3f5b1e2a10",
                },
            )
        ],
    )
    def post(self, request):
        upload = _upload_from(request)
        allow_jobs = permissions.CanSubmitLongMedia().has_permission(request, self)
        try:
            job, finished = recognition_submit(user=request.user, upload=upload, allow_jobs=allow_jobs)
        except UploadRejected as rejected:
            raise ApiError(rejected.http_status, rejected.code, rejected.message) from None
        except QuotaExceeded as refused:
            raise _quota_error(refused) from None
        body = _render(job)
        if finished:
            return Response(body, status=status.HTTP_200_OK)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    @extend_schema(
        operation_id="recognitions_list",
        responses={200: serializers.RecognitionSerializer(many=True), **error_responses(401, 429)},
    )
    def get(self, request):
        jobs = Recognition.objects.filter(user=request.user).select_related("track").order_by("-created_at")
        page = self.paginate_queryset(jobs)
        return self.get_paginated_response([_render(job) for job in page])


class RecognitionDetailApi(GenericAPIView):
    """A recognition of mine: its status and, when done, its result or timeline; or its deletion
    (with any media kept for it)."""

    serializer_class = serializers.RecognitionSerializer
    api_scope = ApiScope.RECOGNIZE
    queryset = Recognition.objects.none()

    @extend_schema(
        operation_id="recognitions_retrieve",
        responses={200: serializers.RecognitionSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request, pk):
        job = get_object_or_404(Recognition.objects.select_related("track"), pk=pk, user=request.user)
        return Response(_render(job))

    @extend_schema(operation_id="recognitions_destroy", responses={204: None, **error_responses(401, 404, 429)})
    def delete(self, request, pk):
        upload_delete(job=get_object_or_404(Recognition, pk=pk, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _quota_error(refused: QuotaExceeded) -> ApiError:
    error = ApiError(refused.http_status, refused.code, refused.message)
    error.wait = refused.retry_after_s  # DRF answers it as Retry-After
    return error


class WebhookListCreateApi(GenericAPIView):
    """Register a URL to hear when my jobs finish (signed with the secret returned once); list them."""

    serializer_class = serializers.WebhookSerializer
    permission_classes = [ApiAccess, permissions.IsPartner]
    api_scope = ApiScope.WEBHOOKS
    queryset = Webhook.objects.none()

    @extend_schema(
        operation_id="webhooks_create",
        request=serializers.WebhookInputSerializer,
        responses={201: serializers.WebhookSerializer, **error_responses(400, 401, 403, 429)},
    )
    def post(self, request):
        data = serializers.WebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            webhook, secret = webhook_create(user=request.user, url=data.validated_data["url"])
        except WebhookUrlError as error:
            raise ApiError(400, "invalid_url", str(error)) from None
        except WebhookQuotaError as error:
            raise ApiError(400, "quota", str(error)) from None
        body = serializers.WebhookSerializer(webhook).data
        return Response({**body, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: serializers.WebhookSerializer(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request):
        page = self.paginate_queryset(Webhook.objects.filter(user=request.user).order_by("-created_at"))
        return self.get_paginated_response(serializers.WebhookSerializer(page, many=True).data)


class WebhookDetailApi(GenericAPIView):
    """One of my webhooks: its delivery log, switching it back on, or its removal."""

    serializer_class = serializers.WebhookDeliverySerializer
    permission_classes = [ApiAccess, permissions.IsPartner]
    api_scope = ApiScope.WEBHOOKS
    queryset = Webhook.objects.none()

    @extend_schema(
        operation_id="webhooks_deliveries",
        responses={200: serializers.WebhookDeliverySerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk, user=request.user)
        page = self.paginate_queryset(webhook.deliveries.order_by("-created_at"))
        return self.get_paginated_response(serializers.WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=serializers.WebhookUpdateSerializer,
        responses={200: serializers.WebhookSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def patch(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk, user=request.user)
        data = serializers.WebhookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["active"]:
            webhook = webhook_enable(webhook=webhook)
        else:
            webhook.active = False
            webhook.save(update_fields=["active"])
        return Response(serializers.WebhookSerializer(webhook).data)

    @extend_schema(operation_id="webhooks_destroy", responses={204: None, **error_responses(401, 403, 404, 429)})
    def delete(self, request, pk):
        webhook_delete(webhook=get_object_or_404(Webhook, pk=pk, user=request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretApi(GenericAPIView):
    """Give one of my webhooks a new signing secret; the old one also signs for 24 hours more."""

    serializer_class = serializers.WebhookSerializer
    permission_classes = [ApiAccess, permissions.IsPartner]
    api_scope = ApiScope.WEBHOOKS
    queryset = Webhook.objects.none()

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        request=None,
        responses={200: serializers.WebhookSerializer, **error_responses(401, 403, 404, 429)},
    )
    def post(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk, user=request.user)
        secret = webhook_rotate_secret(webhook=webhook)
        webhook.refresh_from_db()
        return Response({**serializers.WebhookSerializer(webhook).data, "secret": secret})
