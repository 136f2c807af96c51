"""Pages of the recognition app: the record page, the listener's history, uploads and their jobs."""

import os
import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from accounts.http import AuthenticatedHttpRequest
from catalog import selectors as catalog_selectors
from portal.formatting import confidence_label, spreadsheet_clock
from portal.ranges import ranged_file_response
from portal.spreadsheets import csv_line_writer, spreadsheet_cell
from recognition import selectors
from recognition.engine.fingerprint import QUERY
from recognition.models import Recognition
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
    """My recognitions, newest first: every song each one found, an upload's linked to its page."""
    page = Paginator(selectors.recognitions_of(request.user), 25).get_page(request.GET.get("page"))
    return render(
        request, "recognition/history.html", {"page": page, "entries": selectors.history_entries(page.object_list)}
    )


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
def upload_detail(request: AuthenticatedHttpRequest, pk) -> HttpResponse:
    """An upload's progress, then its results: a player synced with a timeline of catalog songs."""
    job = get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk)
    is_owner = job.user_id == request.user.pk
    media = selectors.upload_media_kind(job) if is_owner else None
    context = {
        "job": job,
        "is_owner": is_owner,
        "timeline": selectors.upload_timeline(job) if job.status == Recognition.Status.DONE else None,
        "player": {"kind": media, "url": reverse("recognition:upload_media", args=[job.pk])} if media else None,
    }
    return render(request, "recognition/upload_detail.html", context)


@login_required
@require_safe
def upload_media(request: AuthenticatedHttpRequest, pk) -> HttpResponseBase:
    """The kept media of one of my uploads, in byte ranges (what a player seeks with); to its owner only."""
    job = get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk, user=request.user)
    if not selectors.upload_media_kind(job):
        raise Http404("This upload's file was not kept.")
    storage, name = job.media.storage, job.media.name
    try:
        path = storage.path(name)
    except NotImplementedError:  # S3: a short-lived signed URL, which answers ranges itself
        return redirect(storage.url(name))
    if not os.path.exists(path):
        raise Http404("This upload's file is gone.")
    response = ranged_file_response(request, path, content_type=selectors.upload_media_type(job))
    response["Cache-Control"] = "private, no-cache"
    response["Content-Disposition"] = "inline"
    # Whatever the bytes are, they never run as a page of this site.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


EXPORT_FIELDS = [
    "segment", "start", "end", "start_s", "end_s", "track_id", "title", "artist", "rights_holder",
    "in_song_from_s", "in_song_to_s", "confidence", "confidence_label", "speed", "pitch_semitones", "change",
]  # fmt: skip


@login_required
@require_safe
def upload_export(request: AuthenticatedHttpRequest, pk, fmt: str) -> HttpResponse:
    """An upload's songs as CSV (text that would run as a formula defused) or JSON, as a download."""
    job = get_object_or_404(selectors.uploads_visible_to(request.user), pk=pk, status=Recognition.Status.DONE)
    segments = selectors.upload_segments(job)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(job.original_name or "upload").stem).strip("-.")[:60] or "upload"
    response: HttpResponse
    if fmt == "csv":
        writer = csv_line_writer()
        lines = [writer.writerow(EXPORT_FIELDS)]
        for s in segments:
            lines.append(writer.writerow([
                s["index"], spreadsheet_clock(s["start_s"]), spreadsheet_clock(s["end_s"]), s["start_s"], s["end_s"],
                s["track_id"], spreadsheet_cell(s["title"]), spreadsheet_cell(s["artist"]),
                spreadsheet_cell(s["owner"]), s["offset_s"], s["offset_end_s"], s["confidence"],
                confidence_label(s["confidence"]), "" if s["speed"] is None else s["speed"],
                "" if s["pitch_semitones"] is None else s["pitch_semitones"], s["change"],
            ]))  # fmt: skip
        response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    elif fmt == "json":
        body = {
            "id": str(job.pk),
            "file": job.original_name,
            "duration_s": job.heard_s,
            "segments": [
                {
                    "start_s": s["start_s"], "end_s": s["end_s"], "track_id": s["track_id"], "title": s["title"],
                    "artist": s["artist"], "rights_holder": s["owner"], "offset_s": s["offset_s"],
                    "offset_end_s": s["offset_end_s"], "confidence": s["confidence"],
                    "confidence_label": confidence_label(s["confidence"]), "speed": s["speed"],
                    "pitch_semitones": s["pitch_semitones"],
                }
                for s in segments
            ],
        }  # fmt: skip
        response = JsonResponse(body, json_dumps_params={"indent": 2})
    else:
        raise Http404("Export as csv or json.")
    response["Content-Disposition"] = f'attachment; filename="{stem}-songs.{fmt}"'
    return response


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
