"""The partner API, version 1: /api/v1/..."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from catalog.api import views as catalog_api
from portal.exceptions import json_error
from recognition.api import views as recognition_api
from recognition.monitors.api import views as monitors_api
from recognition.reports import api as reports_api

app_name = "api"


def _not_found(request, unknown=""):
    return json_error(404, "not_found", "No such API endpoint.")


urlpatterns = [
    path("recognitions", recognition_api.RecognitionListCreateApi.as_view(), name="recognitions"),
    path("recognitions/<uuid:pk>", recognition_api.RecognitionDetailApi.as_view(), name="recognition"),
    path("webhooks", recognition_api.WebhookListCreateApi.as_view(), name="webhooks"),
    path("webhooks/<int:pk>", recognition_api.WebhookDetailApi.as_view(), name="webhook"),
    path("webhooks/<int:pk>/rotate-secret", recognition_api.WebhookRotateSecretApi.as_view(), name="webhook_rotate"),
    path("monitors", monitors_api.MonitorListCreateApi.as_view(), name="monitors"),
    path("monitors/<int:pk>", monitors_api.MonitorDetailApi.as_view(), name="monitor"),
    path("monitors/<int:pk>/device-token", monitors_api.MonitorDeviceTokenApi.as_view(), name="monitor_device_token"),
    path("monitors/<int:pk>/detections", monitors_api.MonitorDetectionsApi.as_view(), name="monitor_detections"),
    path("detections/<int:pk>/evidence", monitors_api.DetectionEvidenceApi.as_view(), name="detection_evidence"),
    path("detections/<int:pk>", monitors_api.DetectionDetailApi.as_view(), name="detection"),
    path("detections/<int:pk>/dispute", monitors_api.DetectionDisputeApi.as_view(), name="detection_dispute"),
    path("detections/<int:pk>/restore", monitors_api.DetectionRestoreApi.as_view(), name="detection_restore"),
    path("monitors/<int:pk>/log", monitors_api.MonitorLogApi.as_view(), name="monitor_log"),
    path("reports/plays", reports_api.ReportPlaysApi.as_view(), name="reports_plays"),
    path("reports/plays/times", reports_api.ReportPlayTimesApi.as_view(), name="reports_play_times"),
    path("tracks", catalog_api.TrackListCreateApi.as_view(), name="tracks"),
    path("tracks/<int:pk>", catalog_api.TrackDetailApi.as_view(), name="track"),
    path("tracks/<int:pk>/audio", catalog_api.TrackAudioApi.as_view(), name="track_audio"),
    path("tracks/<int:pk>/artwork", catalog_api.TrackArtworkApi.as_view(), name="track_artwork"),
    path("albums", catalog_api.AlbumListApi.as_view(), name="albums"),
    path("albums/<int:pk>/artwork", catalog_api.AlbumArtworkApi.as_view(), name="album_artwork"),
    path("schema", SpectacularAPIView.as_view(api_version="1.0.0"), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
    re_path(r"^(?P<unknown>.*)$", _not_found),
]
