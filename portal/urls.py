"""Earshot URL map: pages, accounts, admin."""

from django.contrib import admin
from django.urls import include, path

from portal import views as portal_views
from recognition import views as recognition_views

admin.site.site_header = "Earshot catalog"
admin.site.site_title = "Earshot"
admin.site.index_title = "Catalog administration"

urlpatterns = [
    path("", recognition_views.home, name="home"),
    path("healthz", portal_views.healthz, name="healthz"),
    path("readyz", portal_views.readyz, name="readyz"),
    path("metrics", portal_views.metrics, name="metrics"),
    path("favicon.ico", portal_views.favicon, name="favicon"),
    path("accounts/", include("accounts.urls")),
    path("", include("recognition.urls")),
    path("", include("catalog.urls")),
    path("detections/", include("recognition.monitors.detection_urls")),
    path("monitors/", include("recognition.monitors.urls")),
    path("reports/", include("recognition.reports.urls")),
    path("console/", include("recognition.console.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api_urls")),
]

handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"
