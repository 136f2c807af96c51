"""Pages of the partner console: /console/..."""

from django.urls import path

from recognition.console import views

app_name = "console"

urlpatterns = [
    path("", views.console_index, name="index"),
    path("keys/new", views.key_new, name="key_new"),
    path("keys/<str:prefix>/revoke", views.key_revoke, name="key_revoke"),
    path("webhooks/new", views.webhook_new, name="webhook_new"),
    path("webhooks/<int:pk>/", views.webhook_detail, name="webhook"),
    path("webhooks/<int:pk>/test", views.webhook_test, name="webhook_test"),
    path("webhooks/<int:pk>/switch-on", views.webhook_switch_on, name="webhook_switch_on"),
    path("webhooks/<int:pk>/delete", views.webhook_remove, name="webhook_delete"),
    path("try", views.try_recognition, name="try"),
]
