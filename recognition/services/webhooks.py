"""Webhooks: signed notices to partners when their asynchronous recognitions finish.

Each delivery is a POST of the event's JSON (a recognition, a detection, or a `ping` sent from
the partner console to test a receiver) with the headers
`Earshot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>` (a
second `v1=` for the old secret for a day after a rotation) and `Earshot-Delivery: <id>`, the
same on every attempt of one delivery: a receiver recomputes the HMAC, refuses old timestamps
(replays) and drops delivery ids it has seen. Failed deliveries are retried with exponential
backoff; every attempt is logged on the delivery; a webhook that keeps failing is switched off
with its reason. Deliveries run on their own task queue (`webhooks`), so a slow receiver never
holds the worker of upload jobs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.tasks import task
from django.utils import timezone

from portal import crypto, outbound
from portal.ratelimit import RateLimit
from recognition.models import Recognition, Webhook, WebhookDelivery

__all__ = [
    "BACKOFF_S",
    "DELIVERY_HEADER",
    "QUEUE",
    "WebhookQuotaError",
    "WebhookTestRefused",
    "WebhookUrlError",
    "deliver_webhook",
    "detection_payload",
    "recognition_payload",
    "sign",
    "signature_header",
    "webhook_create",
    "webhook_delete",
    "webhook_deliver",
    "webhook_enable",
    "webhook_rotate_secret",
    "webhook_send_test",
    "webhooks_notify",
    "webhooks_notify_detection",
    "webhooks_retry_due",
]

# Seconds before attempts 2, 3, 4, 5, 6; then the delivery is failed.
BACKOFF_S = (10, 60, 300, 1800, 7200)
SIGNATURE_HEADER = "Earshot-Signature"
DELIVERY_HEADER = "Earshot-Delivery"
QUEUE = "webhooks"
# How long the old secret keeps signing after a rotation: a day to deploy the new one.
ROTATION_OVERLAP = timedelta(hours=24)
# A due delivery is left this long to the task already queued for it before the sweep queues
# another (the claim in webhook_deliver keeps a second task from sending twice anyway).
SWEEP_GRACE = timedelta(seconds=60)
# Test events a user may send: each is an outbound request Earshot makes on their behalf, so a
# button pressed in a loop must not become a way to make Earshot call a URL without end.
TEST_EVENTS = RateLimit("webhook_test_events", burst=5, per_hour=60)


class WebhookUrlError(ValueError):
    """A URL Earshot refuses to call."""


class WebhookQuotaError(ValueError):
    """The user has as many webhooks as an account may have."""


class WebhookTestRefused(Exception):
    """A test event refused: the webhook is switched off, or the user sent too many lately."""

    def __init__(self, message: str, retry_after_s: float = 0):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


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
    limit = settings.EARSHOT_WEBHOOKS_PER_USER
    if Webhook.objects.filter(user=user).count() >= limit:
        raise WebhookQuotaError(f"You have {limit} webhooks, the most an account may have.")
    check_url(url)
    secret = _new_secret()
    webhook = Webhook.objects.create(user=user, url=url, secret_encrypted=crypto.encrypt(secret))
    return webhook, secret


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook) -> str:
    """Give a webhook a new signing secret (returned, shown once); the old one signs for a day more."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    secret = _new_secret()
    webhook.previous_secret_encrypted = webhook.secret_encrypted
    webhook.previous_secret_until = timezone.now() + ROTATION_OVERLAP
    webhook.secret_encrypted = crypto.encrypt(secret)
    webhook.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_until"])
    return secret


def webhook_enable(*, webhook: Webhook) -> Webhook:
    """Switch a webhook (back) on, clearing its failure count and the reason it was switched off."""
    webhook.active, webhook.failures_in_row, webhook.disabled_reason, webhook.disabled_at = True, 0, "", None
    webhook.save(update_fields=["active", "failures_in_row", "disabled_reason", "disabled_at"])
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Remove a webhook with its delivery log; pending deliveries go with it."""
    webhook.delete()


def webhook_send_test(*, webhook: Webhook) -> WebhookDelivery:
    """Queue a signed `ping` to a webhook through the same queue, signing and retries as every
    event, so its owner sees a receiver work (or why not) in the delivery log.

    Raise WebhookTestRefused when the webhook is switched off (switch it on first: a ping would
    only fail) or when its owner sent TEST_EVENTS' worth lately.
    """
    if not webhook.active:
        raise WebhookTestRefused("This webhook is switched off; switch it on to send it a test event.")
    allowed, wait_s = TEST_EVENTS.take(f"user:{webhook.user_id}")
    if not allowed:
        raise WebhookTestRefused("Too many test events lately; try again in a minute or two.", wait_s)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(webhook=webhook, event=WebhookDelivery.PING)
        transaction.on_commit(functools.partial(_enqueue, delivery.pk))
    return delivery


def ping_payload(delivery: WebhookDelivery) -> dict:
    """What a test event is about: the webhook it tests, and when it was sent."""
    return {"webhook_id": delivery.webhook_id, "sent_at": delivery.created_at.isoformat(), "test": True}


def _disable(webhook_id: int, reason: str) -> None:
    """Switch a webhook off with its reason; its pending deliveries end failed with the same reason."""
    with transaction.atomic():
        switched = Webhook.objects.filter(pk=webhook_id, active=True).update(
            active=False, disabled_reason=reason[:400], disabled_at=timezone.now()
        )
        if switched:
            WebhookDelivery.objects.filter(webhook_id=webhook_id, status=WebhookDelivery.Status.PENDING).update(
                status=WebhookDelivery.Status.FAILED,
                next_attempt_at=None,
                last_error=f"The webhook was switched off: {reason}"[:300],
            )


# What a segment recorded before matches reported their change says of it: nothing reported.
_UNCHANGED = {"speed": None, "pitch_semitones": None}


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
            "speed": job.speed,
            "pitch_semitones": job.pitch_semitones,
        }
    payload = {
        "id": str(job.pk),
        "status": job.status,
        "match": match,
        "segments": [{**_UNCHANGED, **segment} for segment in job.segments],
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
        "speed": detection.reported_speed,
        "open": detection.open,
        "retroactive": detection.retroactive,
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return signature_header([secret], timestamp, body)


def signature_header(secrets_: list[str], timestamp: int, body: bytes) -> str:
    """Return `t=<timestamp>,v1=<hmac>` with one `v1` per secret (current first)."""
    digests = [hmac.new(s.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest() for s in secrets_]
    return ",".join([f"t={timestamp}", *(f"v1={digest}" for digest in digests)])


def _signing_secrets(webhook: Webhook) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    signing = [crypto.decrypt(webhook.secret_encrypted)]
    until = webhook.previous_secret_until
    if webhook.previous_secret_encrypted and until is not None and until > timezone.now():
        signing.append(crypto.decrypt(webhook.previous_secret_encrypted))
    return signing


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
    """Queue deliveries overdue by SWEEP_GRACE: a lost first task, a lost retry, a killed attempt."""
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now() - SWEEP_GRACE
        ).values_list("pk", flat=True)
    )
    for delivery_id in due:
        _enqueue(delivery_id)
    return len(due)


def _lease_s() -> float:
    """How long a claimed attempt may take before another may start: its deadline and a margin."""
    return settings.EARSHOT_WEBHOOK_TIMEOUT_S + 30


def webhook_deliver(delivery_id: int) -> str:  # noqa: PLR0911 (one return per outcome)
    """Make one delivery attempt if it is due; on failure schedule the next one or give up.

    The attempt is claimed first by one conditional UPDATE (pending, due) that moves the due
    time past the attempt's lease: a second task for the same delivery (a retry and a sweep, a
    task queued twice) finds it not due and skips, so a receiver is not called twice at once.
    """
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + timedelta(seconds=_lease_s()), attempts=F("attempts") + 1)
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("webhook", "recognition__track", "detection").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.active:
        return _finish(delivery, WebhookDelivery.Status.FAILED, "The webhook is switched off.")
    about = _about(delivery)
    if about is None:  # a constraint makes every delivery but a ping about a recognition or a detection
        return _finish(delivery, WebhookDelivery.Status.FAILED, "The delivery is about nothing.")
    try:
        signing = _signing_secrets(webhook)
    except InvalidToken:
        # Nothing a retry can mend: the encryption key changed. Say so and stop.
        reason = "The signing secret cannot be decrypted (the server's key changed); rotate the secret."
        _finish(delivery, WebhookDelivery.Status.FAILED, reason)
        _disable(webhook.pk, reason)
        return WebhookDelivery.Status.FAILED
    body = json.dumps({"event": delivery.event, **about}).encode()
    timeout_s = settings.EARSHOT_WEBHOOK_TIMEOUT_S
    try:
        # The guard checks the address again (DNS may have changed) and connects to exactly that one.
        with outbound.open_url(
            webhook.url, method="POST", body=body, allow_private=settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE,
            follow_redirects=False,
            limits=outbound.OutboundLimits(connect_timeout_s=timeout_s, read_timeout_s=timeout_s, deadline_s=timeout_s),
            headers={"Content-Type": "application/json", "User-Agent": "Earshot-Webhooks/1",
                     DELIVERY_HEADER: str(delivery.pk),
                     SIGNATURE_HEADER: signature_header(signing, int(time.time()), body)},
        ) as response:  # the status is the answer; the body is not read  # fmt: skip
            delivery.last_status_code = response.status
        delivered = 200 <= response.status < 300
        error = "" if delivered else f"HTTP {response.status}"
    except outbound.OutboundError as failure:
        error = failure.message[:300]
        delivered = False
    if delivered:
        Webhook.objects.filter(pk=webhook.pk).update(failures_in_row=0)
        return _finish(delivery, WebhookDelivery.Status.DELIVERED, "")
    if delivery.attempts > len(BACKOFF_S):
        status = _finish(delivery, WebhookDelivery.Status.FAILED, error)
    else:
        delay = BACKOFF_S[delivery.attempts - 1]
        status = _finish(delivery, WebhookDelivery.Status.PENDING, error, retry_in_s=delay)
    Webhook.objects.filter(pk=webhook.pk).update(failures_in_row=F("failures_in_row") + 1)
    _hold_back(webhook.pk, except_id=delivery.pk)
    limit = settings.EARSHOT_WEBHOOK_DISABLE_AFTER
    if Webhook.objects.filter(pk=webhook.pk, active=True, failures_in_row__gte=limit).exists():
        _disable(webhook.pk, f"{limit} attempts in a row failed; the last: {error}")
        delivery.refresh_from_db(fields=["status"])
        return delivery.status
    if status == WebhookDelivery.Status.PENDING:
        _enqueue(delivery.pk, delay_s=BACKOFF_S[delivery.attempts - 1])
    return status


def _about(delivery: WebhookDelivery) -> dict | None:
    """What a delivery's body says besides its event: the detection, recognition or ping."""
    if delivery.detection is not None:
        return {"detection": detection_payload(delivery.detection)}
    if delivery.recognition is not None:
        return {"recognition": recognition_payload(delivery.recognition)}
    if delivery.event == WebhookDelivery.PING:
        return {"ping": ping_payload(delivery)}
    return None


def _hold_back(webhook_id: int, *, except_id: int) -> None:
    """Hold a failing webhook's other deliveries back by its backoff (a circuit breaker).

    A tarpit receiver holds a webhook worker for a whole deadline per attempt: without this, one
    user's hostile URL and a notice every few seconds would keep the webhooks queue busy for
    everyone. The sweep queues the held deliveries again once due.
    """
    failures = Webhook.objects.filter(pk=webhook_id).values_list("failures_in_row", flat=True).first() or 1
    until = timezone.now() + timedelta(seconds=BACKOFF_S[min(failures, len(BACKOFF_S)) - 1])
    WebhookDelivery.objects.filter(
        webhook_id=webhook_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=until
    ).exclude(pk=except_id).update(next_attempt_at=until)


def _finish(delivery: WebhookDelivery, status: str, error: str, *, retry_in_s: float | None = None) -> str:
    """Record an attempt's outcome (the claim already counted it)."""
    delivery.status = status
    delivery.last_error = error
    delivery.delivered_at = timezone.now() if status == WebhookDelivery.Status.DELIVERED else None
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=retry_in_s) if retry_in_s is not None else None
    delivery.save(update_fields=["status", "last_error", "last_status_code", "delivered_at", "next_attempt_at"])
    return status


@task(queue_name=QUEUE)
def deliver_webhook(delivery_id: int) -> str:
    """Make one delivery attempt in the background worker (`manage.py db_worker`)."""
    return webhook_deliver(delivery_id)
