"""Operational endpoints (health, readiness, metrics) and error pages (JSON under /api/)."""

from django.http import HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache

from portal import observability
from portal.exceptions import json_error


@never_cache
def healthz(request):
    return JsonResponse(observability.health())


@never_cache
def readyz(request):
    ready, report = observability.readiness()
    return JsonResponse(report, status=200 if ready else 503)


@never_cache
def metrics(request):
    body, content_type = observability.render_metrics()
    return HttpResponse(body, content_type=content_type)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error(404, "not_found", "No such API endpoint or object.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_error(500, "server_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)
