"""Public catalog pages."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("tracks/<int:pk>/", views.track, name="track"),
    path("tracks/<int:pk>/artwork", views.track_artwork, name="artwork"),
    path("tracks/<int:pk>/preview", views.track_preview, name="preview"),
]
