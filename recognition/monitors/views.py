"""Pages of monitors: the list with a form to add one, a monitor's live timeline, its CSV export,
and the venue device page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from portal.spreadsheets import csv_line_writer, spreadsheet_cell, streamed_lines
from recognition.monitors import selectors, services
from recognition.monitors.models import Monitor
from recognition.monitors.periods import Period, PeriodInvalid, period_parse

FRAME_MS = 250
SAMPLE_RATE_HZ = 8000
CSV_FIELDS = [
    "id", "track_id", "title", "artist", "started_at", "ended_at", "duration_s",
    "offset_start_s", "offset_end_s", "confidence", "speed", "open",
]  # fmt: skip


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "monitors/forbidden.html", status=403)


def _monitor(request: AuthenticatedHttpRequest, pk: int) -> Monitor:
    return get_object_or_404(selectors.monitors_visible_to(request.user), pk=pk)


@login_required
def monitor_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """My monitors and what each is doing; a form to add a stream or a device."""
    if not request.user.can_monitor:
        return _forbidden(request)
    context: dict[str, object] = {"form": {"kind": "stream"}}
    if request.method == "POST":
        kind = request.POST.get("kind", Monitor.Kind.STREAM)
        name = request.POST.get("name", "")
        url = request.POST.get("source_url", "").strip() if kind == Monitor.Kind.STREAM else ""
        context["form"] = {"kind": kind, "name": name, "source_url": url}
        if kind == Monitor.Kind.STREAM and not url:
            context["error"] = "A stream monitor needs the stream's URL."
        else:
            try:
                monitor, token = services.monitor_create(owner=request.user, name=name, kind=kind, source_url=url)
            except services.MonitorRefused as refused:
                context["error"] = refused.message
            else:
                if token:
                    return _show_token(request, monitor, token)
                return redirect("monitors:detail", pk=monitor.pk)
    elif request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    monitors = list(selectors.monitors_visible_to(request.user).order_by("name", "id"))
    for monitor in monitors:
        monitor.heard_s = selectors.heard_recently(monitor)  # type: ignore[attr-defined]
    context["monitors"] = monitors
    return render(request, "monitors/list.html", context, status=400 if context.get("error") else 200)


def _show_token(request: HttpRequest, monitor: Monitor, token: str) -> HttpResponse:
    """The device token, this once (never stored in clear, never shown again)."""
    device_url = request.build_absolute_uri(reverse("monitors:device", args=[monitor.pk]))
    response = render(
        request,
        "monitors/token.html",
        {"monitor": monitor, "token": token, "device_url": device_url, "socket_path": _socket_path(monitor)},
    )
    response["Cache-Control"] = "no-store"
    return response


def _socket_path(monitor: Monitor) -> str:
    return f"/ws/monitors/{monitor.pk}/device"


@login_required
@require_GET
def monitor_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A monitor's live timeline: detections appear as they are made, with their evidence."""
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    detections = list(selectors.detections_of(monitor)[:100])
    return render(
        request,
        "monitors/detail.html",
        {
            "monitor": monitor,
            "heard_s": selectors.heard_recently(monitor),
            "detections": [_display(selectors.detection_summary(d)) for d in detections],
            "socket_path": _socket_path(monitor),
        },
    )


def _display(summary: dict) -> dict:
    """A detection as the timeline shows it; the template formats its times and confidence with
    the earshot filters, static/js/monitor.js polled ones with static/js/format.js."""
    return {
        **summary,
        "started": summary["started_at"][:19].replace("T", " "),
        "ended": summary["ended_at"][11:19],
    }


@login_required
@require_GET
def monitor_status(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """What the timeline polls: the monitor's state and detections changed since `since`."""
    if not request.user.can_monitor:
        raise Http404
    monitor = _monitor(request, pk)
    since: datetime | None = None
    try:
        since = parse_datetime(request.GET.get("since", "").replace(" ", "+"))
    except ValueError:
        since = None
    detections = selectors.detections_of(monitor, since=since)[:200]
    return JsonResponse(
        {
            "monitor": selectors.monitor_summary(monitor),
            "detections": [selectors.detection_summary(d) for d in detections],
        }
    )


@login_required
@require_POST
def monitor_pause(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    services.monitor_update(monitor=monitor, paused=request.POST.get("paused") == "1")
    return redirect("monitors:detail", pk=monitor.pk)


@login_required
@require_POST
def monitor_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not request.user.can_monitor:
        return _forbidden(request)
    services.monitor_delete(monitor=_monitor(request, pk))
    return redirect("monitors:list")


@login_required
@require_POST
def monitor_rotate_token(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    if monitor.kind != Monitor.Kind.DEVICE:
        raise Http404
    return _show_token(request, monitor, services.device_token_rotate(monitor=monitor))


@login_required
@require_GET
def monitor_detections_csv(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    """Every detection of a monitor as CSV, oldest first, streamed (a year's log fits no buffer)."""
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    writer = csv_line_writer()

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_FIELDS)
        for d in selectors.detections_rows(monitor):
            yield writer.writerow([
                d.pk, d.track_id or "", spreadsheet_cell(d.title), spreadsheet_cell(d.artist), d.started_at.isoformat(),
                d.ended_at.isoformat(), round(d.duration_s, 2), d.offset_start_s, d.offset_end_s,
                d.confidence, "" if d.reported_speed is None else d.reported_speed, "1" if d.open else "0",
            ])  # fmt: skip

    response = StreamingHttpResponse(streamed_lines(request, rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="monitor-{monitor.pk}-detections.csv"'
    return response


@require_GET
def device_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The page a venue's phone or laptop keeps open: the microphone to the monitor, by its token.

    No sign-in (the device is not a person's browser); the token authenticates the socket, and
    the page names nothing until the token is accepted."""
    return render(
        request,
        "monitors/device.html",
        {
            "socket_path": f"/ws/monitors/{int(pk)}/device",
            "engine_rate_hz": SAMPLE_RATE_HZ,
            "frame_ms": FRAME_MS,
            "autostart": "autostart" in request.GET,  # a kiosk that reopens the page after a reboot
        },
    )


LOG_DAYS = 7  # the play log's period when none is given: the last week, today included


def _log_period(request: HttpRequest) -> tuple[Period, str]:
    try:
        return period_parse(request.GET.get("from", ""), request.GET.get("to", ""), default_days=LOG_DAYS), ""
    except PeriodInvalid as invalid:
        return period_parse(default_days=LOG_DAYS), str(invalid)


@login_required
@require_GET
def monitor_log(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A monitor's play log for a period, cue-sheet style: time, title, artist, album, ISRC and
    duration played; disputed plays are left out."""
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    period, error = _log_period(request)
    page = Paginator(selectors.play_log(monitor, period), 100).get_page(request.GET.get("page"))
    days = {"from": period.first_day(), "to": period.last_day()}
    given = {name: request.GET.get(name, "").strip() for name in days}
    # The export and the other pages keep the period exactly as asked (datetimes too).
    asked = given if not error and any(given.values()) else {n: d.isoformat() if d else "" for n, d in days.items()}
    query = urlencode({name: value for name, value in asked.items() if value})
    context = {
        "monitor": monitor,
        "page": page,
        "rows": [selectors.play_log_row(play) for play in page.object_list],
        "days": days,
        "query": query,
        "error": error,
    }
    return render(request, "monitors/log.html", context, status=400 if error else 200)


@login_required
@require_GET
def monitor_log_csv(request: AuthenticatedHttpRequest, pk: int) -> HttpResponseBase:
    """The play log of a period as CSV, oldest first, streamed."""
    if not request.user.can_monitor:
        return _forbidden(request)
    monitor = _monitor(request, pk)
    period, error = _log_period(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    lines = selectors.play_log_csv(monitor, period)
    response = StreamingHttpResponse(streamed_lines(request, lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{selectors.play_log_filename(monitor, period)}"'
    return response
