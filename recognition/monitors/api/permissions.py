"""Who may use the monitors API."""

from rest_framework.permissions import BasePermission


class CanMonitor(BasePermission):
    """Monitors are for the monitor role (security professionals), rights holders and staff."""

    message = "Monitors are for monitor, rights holder and staff accounts; ask staff for the monitor role."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.can_monitor)


class CanSeeDetections(CanMonitor):
    """Detections are for monitors' owners, the rights holders of the tracks heard, and staff."""

    message = "Detections are for monitor, rights holder and staff accounts."
