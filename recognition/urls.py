"""Pages of the recognition app: history, uploads and their jobs (the record page is the site root)."""

from django.urls import path

from recognition import views

app_name = "recognition"

urlpatterns = [
    path("recognitions/", views.history, name="history"),
    path("uploads/", views.upload_list, name="uploads"),
    path("uploads/new/", views.upload_new, name="upload_new"),
    path("uploads/<uuid:pk>/", views.upload_detail, name="upload"),
    path("uploads/<uuid:pk>/status/", views.upload_status, name="upload_status"),
    path("uploads/<uuid:pk>/delete/", views.upload_delete_view, name="upload_delete"),
    path("uploads/<uuid:pk>/media", views.upload_media, name="upload_media"),
    path("uploads/<uuid:pk>/songs.<str:fmt>", views.upload_export, name="upload_export"),
]
