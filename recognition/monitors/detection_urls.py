"""Pages of detections: /detections/..."""

from django.urls import path

from recognition.monitors import detection_views

app_name = "detections"

urlpatterns = [
    path("", detection_views.detection_list, name="list"),
    path("<int:pk>/", detection_views.detection_detail, name="detail"),
    path("<int:pk>/dispute", detection_views.detection_dispute, name="dispute"),
    path("<int:pk>/restore", detection_views.detection_restore, name="restore"),
]
