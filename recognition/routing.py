"""Websocket routes of the recognition app."""

from django.urls import path

from recognition.consumers import ListenConsumer

websocket_urlpatterns = [
    path("ws/listen/", ListenConsumer.as_asgi()),
]
