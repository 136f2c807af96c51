from django.apps import AppConfig


class MonitorsConfig(AppConfig):
    name = "recognition.monitors"
    label = "monitors"
    verbose_name = "Monitors"
