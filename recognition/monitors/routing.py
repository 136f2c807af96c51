"""Websocket routes of monitors: the device socket, which authenticates by token, not by session."""

from django.urls import path

from recognition.monitors.consumers import DeviceConsumer

websocket_urlpatterns = [
    path("ws/monitors/<int:monitor_id>/device", DeviceConsumer.as_asgi()),
]
