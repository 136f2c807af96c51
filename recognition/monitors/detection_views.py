"""Pages of detections: every detection a user may see, with filters, and one detection with its
evidence, the dispute form, restore and the audit trail."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from recognition.monitors import selectors, services
from recognition.monitors.models import Detection
from recognition.monitors.periods import PeriodInvalid, period_parse

PAGE_SIZE = 50


def _forbidden(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(request, "monitors/forbidden.html", status=403)


def _id(text: str) -> int | None:
    """A filter's id, or None for blank or nonsense (an unknown id simply finds nothing)."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


@login_required
@require_GET
def detection_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Detections of my monitors and my tracks (staff: all), newest first; filters track, monitor,
    from and to (dates, YYYY-MM-DD, UTC) as the reports link to them."""
    if not request.user.can_monitor:
        return _forbidden(request)
    track_id, monitor_id = _id(request.GET.get("track", "")), _id(request.GET.get("monitor", ""))
    error = ""
    try:
        period = period_parse(request.GET.get("from", ""), request.GET.get("to", ""))
    except PeriodInvalid as invalid:
        error, period = str(invalid), period_parse()
    detections = selectors.detections_find(request.user, track_id=track_id, monitor_id=monitor_id, period=period)
    page = Paginator(detections, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = {
        "track": track_id or "",
        "monitor": monitor_id or "",
        "from": request.GET.get("from", "").strip(),
        "to": request.GET.get("to", "").strip(),
    }
    context = {
        "page": page,
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "choices": selectors.detections_filter_choices(request.user),
        "error": error,
    }
    return render(request, "monitors/detections.html", context, status=400 if error else 200)


def _detection(request: AuthenticatedHttpRequest, pk: int) -> Detection:
    return get_object_or_404(selectors.detections_visible_to(request.user), pk=pk)


def _show(request: AuthenticatedHttpRequest, detection: Detection, *, error: str = "", status: int = 200):
    return render(
        request,
        "monitors/detection.html",
        {
            "detection": detection,
            "trail": [_with_who(entry) for entry in selectors.detection_trail(detection, request.user)],
            "owns_monitor": request.user.sees_whole_catalog or detection.monitor.owner_id == request.user.pk,
            "reason_max": services.DISPUTE_REASON_MAX,
            "error": error,
            "reason": request.POST.get("reason", "") if error else "",
        },
        status=status,
    )


_ROLE_LABELS = {"monitor_owner": "the monitor's owner", "rights_holder": "the rights holder", "staff": "staff"}


def _with_who(entry: dict) -> dict:
    """A trail entry with who did it in words: the name (when shown) and the role it acted in."""
    role = _ROLE_LABELS.get(entry["by"], "")
    if not entry["user"]:
        return {**entry, "who": role or "a former user"}
    return {**entry, "who": f"{entry['user']} ({role})" if role else entry["user"]}


@login_required
@require_GET
def detection_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One detection: when and where it was heard (the monitor by name), its evidence, the form to
    mark it "not this track" or restore it, and the audit trail."""
    if not request.user.can_monitor:
        return _forbidden(request)
    return _show(request, _detection(request, pk))


@login_required
@require_POST
def detection_dispute(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not request.user.can_monitor:
        return _forbidden(request)
    detection = _detection(request, pk)
    try:
        services.detection_dispute(detection=detection, user=request.user, reason=request.POST.get("reason", ""))
    except services.DisputeRefused as refused:
        return _show(request, detection, error=refused.message, status=_STATUS.get(refused.code, 400))
    messages.success(request, "Marked not this track: it is left out of the reports and the play log.")
    return redirect("detections:detail", pk=detection.pk)


@login_required
@require_POST
def detection_restore(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not request.user.can_monitor:
        return _forbidden(request)
    detection = _detection(request, pk)
    try:
        services.detection_restore(detection=detection, user=request.user)
    except services.DisputeRefused as refused:
        return _show(request, detection, error=refused.message, status=_STATUS.get(refused.code, 400))
    messages.success(request, "Restored: it is back in the reports and the play log.")
    return redirect("detections:detail", pk=detection.pk)


_STATUS = {"invalid": 400, "forbidden": 404, "already_disputed": 409, "not_disputed": 409}
