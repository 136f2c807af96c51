"""Monitors in the Django admin, for staff only: a read-only view to help owners (monitors are
private to their owner; owners manage theirs on /monitors/ and through the API)."""

from __future__ import annotations

from django.contrib import admin

from recognition.monitors.models import Detection, Monitor


class StaffReadOnlyAdmin(admin.ModelAdmin):
    def has_module_permission(self, request):
        return request.user.is_active and request.user.sees_whole_catalog

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Monitor)
class MonitorAdmin(StaffReadOnlyAdmin):
    list_display = ["name", "owner", "kind", "state", "state_reason", "lease_owner", "heard_at"]
    list_filter = ["kind", "state", "paused"]
    search_fields = ["name", "source_url", "owner__username"]
    exclude = ["device_token_hash"]


@admin.register(Detection)
class DetectionAdmin(StaffReadOnlyAdmin):
    list_display = ["title", "artist", "monitor", "started_at", "ended_at", "confidence", "open"]
    list_filter = ["open"]
    search_fields = ["title", "artist", "monitor__name"]
    list_select_related = ["monitor"]
