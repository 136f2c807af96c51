"""Pages of the recognition app: the record page, the listener's history, uploads and their jobs."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.http import AuthenticatedHttpRequest
from catalog import selectors as catalog_selectors
from recognition import selectors
from recognition.engine.fingerprint import QUERY
from recognition.services.quotas import quota_usage
from recognition.services.uploads import QuotaExceeded, UploadRejected, upload_create, upload_delete


def home(request: HttpRequest) -> HttpResponse:
    """The listener's page: one button, a level meter, the answer; where the demo catalog is
    loaded, a second button that plays one of its songs and listens to it."""
    signed_in = request.user.is_authenticated
    listen = settings.EARSHOT_LISTEN
    context = {
        "ws_path": "/ws/listen/",
        "max_listen_s": listen["max_audio_s"] if signed_in else listen["anonymous_max_audio_s"],
        "engine_rate_hz": QUERY.sample_rate_hz,
        "frame_ms": 250,
        "signed_in": signed_in,
        "history_url": reverse("recognition:history") if signed_in else "",
        "demo_songs": catalog_selectors.demo_songs(),
    }
    return render(request, "recognition/listen.html", context)


@login_required
def history(request: HttpRequest) -> HttpResponse:
    """My recognitions: what I identified, newest first."""
    page = Paginator(selectors.recognitions_of(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "recognition/history.html", {"page": page})


def _upload_limits(user) -> dict:
    return {
        "max_upload_mib": settings.EARSHOT_MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_minutes": int(settings.EARSHOT_MAX_QUERY_SECONDS // 60),
        "usage": quota_usage(user),
    }


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_http_methods(["GET", "POST"])
def upload_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upload a video or recording; its job page shows every catalog song found in it."""
    if not request.user.can_upload:
        return render(request, "recognition/upload_forbidden.html", status=403)
    context = _upload_limits(request.user)
    if request.method == "POST":
        files = request.FILES.getlist("file")
        if len(files) != 1:
            return _upload_error(
                request,
                context,
                400,
                "missing_file" if not files else "too_many_files",
                "Choose one file." if not files else "Send one file at a time.",
            )
        try:
            job = upload_create(user=request.user, upload=files[0], keep_media=bool(request.POST.get("keep_media")))
        except (UploadRejected, QuotaExceeded) as refused:
            return _upload_error(
                request,
                context,
                refused.http_status,
                refused.code,
                refused.message,
                job=getattr(refused, "recognition", None),
                retry_after=getattr(refused, "retry_after_s", None),
            )
        url = reverse("recognition:upload", args=[job.pk])
        if _wants_json(request):
            return JsonResponse({"id": str(job.pk), "status": job.status, "url": url}, status=202)
        return redirect(url)
    return render(request, "recognition/upload_new.html", context)


def _upload_error(request, context, status, code, message, *, job=None, retry_after=None) -> HttpResponse:
    response: HttpResponse
    if _wants_json(request):
        payload: dict[str, object] = {"error": {"code": code, "message": message}}
        if job is not None:
            payload["id"] = str(job.pk)
        response = JsonResponse(payload, status=status)
    else:
        response = render(
            request, "recognition/upload_new.html", {**context, "error": message, "failed_job": job}, status=status
        )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@login_required
def upload_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = Paginator(selectors.uploads_visible_to(request.user), 25).get_page(request.GET.get("page"))
    context = {"page": page, "can_upload": request.user.can_upload, "usage": quota_usage(request.user)}
    return render(request, "recognition/upload_list.html", context)


@login_required
@require_http_methods(["POST"])
def upload_delete_view(request: AuthenticatedHttpRequest, pk) -> HttpResponse:
    """Delete one of my uploads and any media kept for it."""
    upload_delete(job=get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk, user=request.user))
    if _wants_json(request):
        return HttpResponse(status=204)
    return redirect("recognition:uploads")


@login_required
def upload_detail(request: HttpRequest, pk) -> HttpResponse:
    """An upload's progress, then its timeline of catalog songs."""
    job = get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk)
    return render(request, "recognition/upload_detail.html", {"job": job, "bars": selectors.timeline_bars(job)})


@login_required
def upload_status(request: HttpRequest, pk) -> JsonResponse:
    job = get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk)
    return JsonResponse({
        "id": str(job.pk),
        "status": job.status,
        "progress": job.progress,
        "error": {"code": job.error_code, "message": job.error_message} if job.error_code else None,
        "segments": job.segments,
    })  # fmt: skip
