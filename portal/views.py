"""Operational endpoints (health, readiness, metrics), the favicon, and error pages (JSON under /api/)."""

from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe

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


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request):
    """/favicon.ico, which browsers and crawlers ask for whatever the page links (static/favicon.ico)."""
    path = finders.find("favicon.ico")
    if not path:
        raise Http404
    with open(str(path), "rb") as icon:
        return HttpResponse(icon.read(), content_type="image/x-icon")


def not_found(request, exception=None):
    """The site's 404 page (templates/404.html), or a JSON error under /api/."""
    if request.path.startswith("/api/"):
        return json_error(404, "not_found", "No such API endpoint or object.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    """The site's 500 page, or a JSON error under /api/. templates/500.html is rendered without a
    request or context processors: whatever failed (the database, a session) must not fail it too."""
    if request.path.startswith("/api/"):
        return json_error(500, "server_error", "Something went wrong on our side; it has been logged.")
    try:
        body = loader.get_template("500.html").render()
    except Exception:  # a broken template must not hide the error behind another
        body = "<h1>Server error (500)</h1>"
    return HttpResponse(body, status=500)
