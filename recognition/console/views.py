"""The partner console, /console/: API keys with their usage, webhooks with their delivery log,
a recognition to try, and the way to the API docs.

Thin views over the services every other interface uses: keys through accounts.services,
webhooks and test events through recognition.services.webhooks, the recognition through
recognition_submit, the one the API calls. Listeners (and anyone whose role holds no keys) get a
page that says why and who can change it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import ApiKeyForm
from accounts.http import AuthenticatedHttpRequest
from accounts.models import ApiKey
from accounts.selectors import KeyUsage, api_keys_with_usage
from accounts.services import ApiKeyRefused, api_key_create, api_key_revoke
from portal.exceptions import error_body
from portal.throttling import ApiRateThrottle
from recognition.console import selectors
from recognition.models import Recognition, Webhook, WebhookDelivery
from recognition.services.uploads import UploadRejected, recognition_submit
from recognition.services.webhooks import (
    WebhookQuotaError,
    WebhookTestRefused,
    WebhookUrlError,
    recognition_payload,
    webhook_create,
    webhook_delete,
    webhook_enable,
    webhook_send_test,
)

View = Callable[..., HttpResponse]


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")


def console_page(view: View) -> View:
    """Signed-in users whose role uses the API; everyone else gets the page that says why."""

    @login_required
    @functools.wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.may_use_api:
            return render(request, "console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapped


def webhooks_page(view: View) -> View:
    """Console pages of webhooks: partners, monitors and staff (the API's rule)."""

    @console_page
    @functools.wraps(view)
    def wrapped(request: AuthenticatedHttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.uses_webhooks:
            return render(request, "console/forbidden.html", {"webhooks": True}, status=403)
        return view(request, *args, **kwargs)

    return wrapped


# The per-key chart: one bar a day, CHART_BAR_PX wide with a pixel between, CHART_HEIGHT_PX tall.
CHART_BAR_PX = 8
CHART_HEIGHT_PX = 28


def _chart(usage: KeyUsage) -> dict:
    """A key's days as SVG bars, scaled to its busiest day; the failed part of a day drawn in red."""
    busiest = usage.busiest or 1
    bars = []
    for index, day in enumerate(usage.days):
        height = round(CHART_HEIGHT_PX * day.requests / busiest)
        failed = round(CHART_HEIGHT_PX * day.errors / busiest)
        bars.append({
            "day": day.day, "requests": day.requests, "errors": day.errors,
            "x": index * (CHART_BAR_PX + 1), "y": CHART_HEIGHT_PX - height, "height": height,
            "failed_y": CHART_HEIGHT_PX - failed, "failed_height": failed,
        })  # fmt: skip
    return {"bars": bars, "width": len(bars) * (CHART_BAR_PX + 1), "height": CHART_HEIGHT_PX, "bar": CHART_BAR_PX}


def _index(request: AuthenticatedHttpRequest, *, key_form: ApiKeyForm | None = None, status: int = 200):
    user = request.user
    keys = [{"usage": usage, "key": usage.key, "chart": _chart(usage)} for usage in api_keys_with_usage(user=user)]
    context = {
        "keys": keys,
        "key_form": key_form or ApiKeyForm(),
        "key_limit": settings.EARSHOT_API_KEYS_PER_USER,
        "webhooks": list(selectors.webhooks_of(user)) if user.uses_webhooks else None,
        "webhook_form": WebhookForm(),
    }
    return render(request, "console/index.html", context, status=status)


@console_page
@require_GET
def console_index(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The console: keys and their use, webhooks, and links to try the API and read its docs."""
    return _index(request)


@console_page
@require_POST
def key_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Create a key with the scopes ticked; it is shown on this answer only, never again."""
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _index(request, key_form=form, status=400)
    try:
        api_key, key = api_key_create(
            user=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
        )
    except ApiKeyRefused as refused:
        form.add_error(None, str(refused))
        return _index(request, key_form=form, status=400)
    response = render(request, "console/key_created.html", {"api_key": api_key, "key": key})
    response["Cache-Control"] = "no-store"
    return response


@console_page
@require_POST
def key_revoke(request: AuthenticatedHttpRequest, prefix: str) -> HttpResponse:
    api_key = get_object_or_404(ApiKey, prefix=prefix, user=request.user)
    api_key_revoke(api_key=api_key)
    messages.success(request, f"API key {api_key.name!r} revoked: programs that use it now get 401.")
    return redirect("console:index")


@webhooks_page
@require_POST
def webhook_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Register a webhook; its signing secret is shown on this answer only."""
    form = WebhookForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the webhook an http(s) URL of at most 500 characters.")
        return redirect("console:index")
    try:
        webhook, secret = webhook_create(user=request.user, url=form.cleaned_data["url"])
    except (WebhookUrlError, WebhookQuotaError) as refused:
        messages.error(request, str(refused))
        return redirect("console:index")
    response = render(request, "console/webhook_created.html", {"webhook": webhook, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


def _mine(request: AuthenticatedHttpRequest, pk: int) -> Webhook:
    return get_object_or_404(Webhook, pk=pk, user=request.user)


@webhooks_page
@require_GET
def webhook_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A webhook's state and its recent deliveries: event, status, attempts, response, time."""
    webhook = _mine(request, pk)
    deliveries = selectors.webhook_deliveries_recent(webhook)
    context = {
        "webhook": webhook,
        "deliveries": deliveries,
        "pending": any(d.status == WebhookDelivery.Status.PENDING for d in deliveries),
        "shown": selectors.DELIVERIES_SHOWN,
    }
    return render(request, "console/webhook.html", context)


@webhooks_page
@require_POST
def webhook_test(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Queue a signed `ping` to the webhook; its delivery shows in the log below."""
    webhook = _mine(request, pk)
    try:
        webhook_send_test(webhook=webhook)
    except WebhookTestRefused as refused:
        messages.error(request, refused.message)
    else:
        messages.success(request, "A test event (`ping`) is on its way; its delivery is listed below.")
    return redirect("console:webhook", pk=webhook.pk)


@webhooks_page
@require_POST
def webhook_switch_on(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook_enable(webhook=_mine(request, pk))
    messages.success(request, "The webhook is on again.")
    return redirect("console:webhook", pk=pk)


@webhooks_page
@require_POST
def webhook_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    webhook = _mine(request, pk)
    webhook_delete(webhook=webhook)
    messages.success(request, f"Webhook {webhook.url} deleted, with its delivery log.")
    return redirect("console:index")


@console_page
@require_http_methods(["GET", "POST"])
def try_recognition(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Send a short file as the API would receive it and show the JSON the API answers.

    It goes through recognition_submit like `POST /api/v1/recognitions` (clips only: a console
    page waits for no job) and draws on the same per-user rate as the API.
    """
    context: dict[str, object] = {"max_mib": settings.EARSHOT_MAX_BODY_BYTES // (1024 * 1024)}
    if request.method == "GET":
        return render(request, "console/try.html", context)
    status, body, job = _try(request)
    # The page itself worked whatever the API would have answered; that answer is shown in it.
    context.update(status=status, answer=json.dumps(body, indent=2, ensure_ascii=False), job=job)
    return render(request, "console/try.html", context)


def _try(request: AuthenticatedHttpRequest) -> tuple[int, dict, Recognition | None]:
    """(the API's status, the API's body, the recognition) for the file of a try."""
    files = request.FILES.getlist("file")
    if len(files) != 1:
        return 400, error_body("missing_file", "Choose one audio or video file."), None
    throttle = ApiRateThrottle()
    if not throttle.allow_request(request, None):
        return 429, error_body("throttled", f"Too many requests; retry in {throttle.wait()} s."), None
    try:
        job, _finished = recognition_submit(user=request.user, upload=files[0], allow_jobs=False)
    except UploadRejected as rejected:
        return rejected.http_status, error_body(rejected.code, rejected.message), None
    body = recognition_payload(job)
    body["url"] = reverse("api:recognition", args=[job.pk])
    return 200, body, job
