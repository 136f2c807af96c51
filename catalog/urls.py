"""Public catalog pages."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("tracks/<int:pk>/", views.track, name="track"),
]
