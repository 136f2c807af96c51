"""Webhooks: signed notices to partners when their asynchronous recognitions finish.

Each delivery is a POST of the recognition's JSON with the header
`Earshot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`:
a receiver recomputes the HMAC and refuses old timestamps (replays). Failed deliveries are
retried with exponential backoff; every attempt is logged on the delivery.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.tasks import task
from django.utils import timezone

from portal import crypto, outbound
from recognition.models import Recognition, Webhook, WebhookDelivery

__all__ = [
    "BACKOFF_S",
    "WebhookUrlError",
    "deliver_webhook",
    "detection_payload",
    "recognition_payload",
    "sign",
    "webhook_create",
    "webhook_deliver",
    "webhooks_notify",
    "webhooks_notify_detection",
    "webhooks_retry_due",
]

# Seconds before attempts 2, 3, 4, 5, 6; then the delivery is failed.
BACKOFF_S = (10, 60, 300, 1800, 7200)
SIGNATURE_HEADER = "Earshot-Signature"


class WebhookUrlError(ValueError):
    """A URL Earshot refuses to call."""


def check_url(url: str) -> None:
    """Allow http(s) URLs whose host resolves only to public addresses (no SSRF into our network)."""
    try:
        outbound.check_url(url, allow_private=settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE)
    except outbound.OutboundError as error:
        if error.code == "private_address":
            raise WebhookUrlError(
                "Webhook URLs must point to a public host (not loopback or a private network)."
            ) from None
        raise WebhookUrlError(error.message.replace("The URL", "A webhook URL")) from None


def webhook_create(*, user, url: str) -> tuple[Webhook, str]:
    """Register a URL for a user; return the webhook and its signing secret (shown once)."""
    check_url(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook.objects.create(user=user, url=url, secret_encrypted=crypto.encrypt(secret))
    return webhook, secret


def recognition_payload(job: Recognition) -> dict:
    """The JSON of a recognition as the API and webhooks show it."""
    match = None
    if job.track_id is not None:
        best = next((s for s in job.segments if s["track_id"] == job.track_id), None)
        match = {
            "track_id": job.track_id,
            "title": best["title"] if best else (job.track.title if job.track else ""),
            "artist": best["artist"] if best else (job.track.artist_names if job.track else ""),
            "offset_s": job.offset_s,
            "confidence": job.confidence,
        }
    payload = {
        "id": str(job.pk),
        "status": job.status,
        "match": match,
        "segments": job.segments,
        "duration_s": job.heard_s if job.heard_s is not None else job.media_duration_s,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.status == Recognition.Status.FAILED:
        payload["error"] = {"code": job.error_code, "message": job.error_message}
    return payload


def detection_payload(detection) -> dict:
    """The JSON of a monitor's detection as the API and webhooks show it."""
    return {
        "id": detection.pk,
        "monitor_id": detection.monitor_id,
        "track_id": detection.track_id,
        "title": detection.title,
        "artist": detection.artist,
        "started_at": detection.started_at.isoformat(),
        "ended_at": detection.ended_at.isoformat(),
        "offset_start_s": detection.offset_start_s,
        "offset_end_s": detection.offset_end_s,
        "confidence": detection.confidence,
        "speed": detection.speed,
        "open": detection.open,
        "retroactive": detection.retroactive,
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhooks_notify(job: Recognition) -> int:
    """Queue one delivery per active webhook of the job's owner (once per job, however often called)."""
    if job.user_id is None:
        return 0
    created = 0
    for webhook in Webhook.objects.filter(user_id=job.user_id, active=True):
        delivery, new = WebhookDelivery.objects.get_or_create(webhook=webhook, recognition=job)
        if new:
            created += 1
            transaction.on_commit(functools.partial(_enqueue, delivery.pk))
    return created


def webhooks_notify_detection(*, detection_id: int, event: str) -> int:
    """Queue one delivery of a detection event per active webhook of the monitor's owner (once)."""
    from recognition.monitors.models import Detection

    detection = Detection.objects.select_related("monitor").filter(pk=detection_id).first()
    if detection is None:
        return 0
    created = 0
    for webhook in Webhook.objects.filter(user_id=detection.monitor.owner_id, active=True):
        delivery, new = WebhookDelivery.objects.get_or_create(webhook=webhook, detection=detection, event=event)
        if new:
            created += 1
            transaction.on_commit(functools.partial(_enqueue, delivery.pk))
    return created


def _enqueue(delivery_id: int, delay_s: float = 0) -> None:
    attempt = deliver_webhook
    if delay_s:
        if not attempt.get_backend().supports_defer:
            return  # no delayed tasks here: webhooks_retry_due picks the delivery up when due
        attempt = attempt.using(run_after=timezone.now() + timedelta(seconds=delay_s))
    attempt.enqueue(delivery_id)


def webhooks_retry_due() -> int:
    """Queue deliveries whose next attempt is due (a lost task must not lose a notice)."""
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        ).values_list("pk", flat=True)
    )
    for delivery_id in due:
        _enqueue(delivery_id)
    return len(due)


def webhook_deliver(delivery_id: int) -> str:
    """Make one delivery attempt; on failure schedule the next one or give up."""
    delivery = (
        WebhookDelivery.objects.select_related("webhook", "recognition__track", "detection")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "skipped"
    webhook = delivery.webhook
    if delivery.detection is not None:
        about = {"detection": detection_payload(delivery.detection)}
    elif delivery.recognition is not None:
        about = {"recognition": recognition_payload(delivery.recognition)}
    else:  # a constraint makes every delivery about one of the two
        return "skipped"
    body = json.dumps({"event": delivery.event, **about}).encode()
    timestamp = int(time.time())
    delivery.attempts += 1
    timeout_s = settings.EARSHOT_WEBHOOK_TIMEOUT_S
    try:
        # The guard checks the address again (DNS may have changed) and connects to exactly that one.
        with outbound.open_url(
            webhook.url, method="POST", body=body, allow_private=settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE,
            follow_redirects=False,
            limits=outbound.OutboundLimits(connect_timeout_s=timeout_s, read_timeout_s=timeout_s, deadline_s=timeout_s),
            headers={"Content-Type": "application/json", "User-Agent": "Earshot-Webhooks/1",
                     SIGNATURE_HEADER: sign(crypto.decrypt(webhook.secret_encrypted), timestamp, body)},
        ) as response:  # the status is the answer; the body is not read  # fmt: skip
            delivery.last_status_code = response.status
        delivered = 200 <= response.status < 300
        delivery.last_error = "" if delivered else f"HTTP {response.status}"
    except outbound.OutboundError as error:
        delivery.last_error = error.message[:300]
        delivered = False
    if delivered:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif delivery.attempts > len(BACKOFF_S):
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delay = BACKOFF_S[delivery.attempts - 1]
        delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save()
    if delivery.status == WebhookDelivery.Status.PENDING:
        _enqueue(delivery.pk, delay_s=BACKOFF_S[delivery.attempts - 1])
    return delivery.status


@task()
def deliver_webhook(delivery_id: int) -> str:
    """Make one delivery attempt in the background worker (`manage.py db_worker`)."""
    return webhook_deliver(delivery_id)
