"""Pages of monitors: /monitors/..."""

from django.urls import path

from recognition.monitors import views

app_name = "monitors"

urlpatterns = [
    path("", views.monitor_list, name="list"),
    path("<int:pk>/", views.monitor_detail, name="detail"),
    path("<int:pk>/status", views.monitor_status, name="status"),
    path("<int:pk>/pause", views.monitor_pause, name="pause"),
    path("<int:pk>/delete", views.monitor_delete, name="delete"),
    path("<int:pk>/device-token", views.monitor_rotate_token, name="rotate_token"),
    path("<int:pk>/detections.csv", views.monitor_detections_csv, name="detections_csv"),
    path("<int:pk>/device", views.device_page, name="device"),
    path("<int:pk>/log", views.monitor_log, name="log"),
    path("<int:pk>/log.csv", views.monitor_log_csv, name="log_csv"),
]
