"""Webhooks under pressure (G25): own queue, caps, switching off, delivery ids, rotation, races, sweeps.

Receivers are real HTTP servers on loopback (webhooks may call private hosts in these tests only).
Services are imported inside the tests, so each test fails on its own against code without them.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from recognition.models import Recognition, Webhook, WebhookDelivery
from tests.receivers import signatures_valid_for

ROOT = Path(__file__).resolve().parents[2]


def _delivery(user, url: str) -> tuple[Webhook, WebhookDelivery, str]:
    from recognition.services.webhooks import webhook_create

    webhook, secret = webhook_create(user=user, url=url)
    job = Recognition.objects.create(user=user, status=Recognition.Status.DONE)
    return webhook, WebhookDelivery.objects.create(webhook=webhook, recognition=job), secret


def _make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=5))


@pytest.mark.django_db
def test_deliveries_are_queued_on_the_webhooks_queue_that_a_worker_of_its_own_runs(settings, partner, receiver):
    from django_tasks_db.models import DBTaskResult

    from recognition.services.webhooks import webhooks_notify

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "webhooks"]}}
    _delivery(partner, receiver().url)
    job = Recognition.objects.create(user=partner, status=Recognition.Status.DONE)
    webhooks_notify(job)
    for callback in _pending_on_commit():
        callback()
    assert list(DBTaskResult.objects.values_list("queue_name", flat=True)) == ["webhooks"]
    # and every way of running Earshot starts a worker for that queue
    for path in ["scripts/run.sh", "docker-compose.yml", "deployment/kubernetes/webhook-worker-deployment.yaml"]:
        assert "--queue-name" in (ROOT / path).read_text() and "webhooks" in (ROOT / path).read_text(), path
    assert "webhook-worker-deployment.yaml" in (ROOT / "deployment/kubernetes/kustomization.yaml").read_text()


def _pending_on_commit():
    from django.db import connection

    callbacks = [callback for _, callback, _ in connection.run_on_commit]
    connection.run_on_commit = []
    return callbacks


@pytest.mark.django_db
def test_an_account_has_at_most_its_quota_of_webhooks(api, partner_key, settings):
    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    settings.EARSHOT_WEBHOOKS_PER_USER = 3
    client = api.as_key(partner_key)
    made = [client.post("/api/v1/webhooks", {"url": f"http://127.0.0.1:9/h{i}"}, format="json") for i in range(4)]
    assert [r.status_code for r in made] == [201, 201, 201, 400]
    assert made[-1].json()["error"]["code"] == "quota"
    assert Webhook.objects.count() == 3


@pytest.mark.django_db
def test_a_webhook_that_keeps_failing_is_switched_off_with_its_reason_shown(
    api, client, partner, partner_key, receiver, settings
):
    from recognition.services.webhooks import webhook_deliver

    settings.EARSHOT_WEBHOOK_DISABLE_AFTER = 3
    hook = receiver(statuses=[500] * 10)
    webhook, delivery, _ = _delivery(partner, hook.url)
    waiting = WebhookDelivery.objects.create(webhook=webhook, recognition=Recognition.objects.create(user=partner))
    for _ in range(3):
        _make_due(delivery)
        webhook_deliver(delivery.pk)
    webhook.refresh_from_db()
    assert not webhook.active and "3 attempts in a row failed" in webhook.disabled_reason
    assert "HTTP 500" in webhook.disabled_reason
    waiting.refresh_from_db()
    assert waiting.status == "failed" and "switched off" in waiting.last_error
    assert len(hook.requests) == 3
    shown = api.as_key(partner_key).get("/api/v1/webhooks").json()["results"][0]
    assert shown["active"] is False and shown["disabled_reason"] == webhook.disabled_reason
    client.force_login(partner)
    page = client.get("/accounts/profile/").content.decode()
    assert "3 attempts in a row failed; the last: HTTP 500" in page
    switched_on = api.as_key(partner_key).patch(f"/api/v1/webhooks/{webhook.pk}", {"active": True}, format="json")
    assert switched_on.status_code == 200
    assert switched_on.json()["active"] is True and switched_on.json()["disabled_reason"] == ""


@pytest.mark.django_db
def test_every_attempt_carries_the_delivery_id(partner, receiver):
    from recognition.services.webhooks import webhook_deliver

    hook = receiver(statuses=[503, 200])
    _, delivery, _ = _delivery(partner, hook.url)
    assert webhook_deliver(delivery.pk) == "pending"
    _make_due(delivery)
    assert webhook_deliver(delivery.pk) == "delivered"
    assert [headers.get("Earshot-Delivery") for headers, _ in hook.requests] == [str(delivery.pk)] * 2


@pytest.mark.django_db
def test_a_rotated_secret_signs_at_once_and_the_old_one_for_a_day(api, partner, partner_key, receiver):
    from recognition.services.webhooks import webhook_deliver

    hook = receiver()
    client = api.as_key(partner_key)
    created = client.post("/api/v1/webhooks", {"url": hook.url}, format="json").json()
    rotated = client.post(f"/api/v1/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    old, new = created["secret"], rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    webhook = Webhook.objects.get(pk=created["id"])
    for _ in range(2):
        job = Recognition.objects.create(user=partner, status=Recognition.Status.DONE)
        delivery = WebhookDelivery.objects.create(webhook=webhook, recognition=job)
        assert webhook_deliver(delivery.pk) == "delivered"
        Webhook.objects.filter(pk=webhook.pk).update(previous_secret_until=timezone.now() - timedelta(seconds=1))
    (during_headers, during_body), (after_headers, after_body) = hook.requests
    assert signatures_valid_for(new, during_headers, during_body)
    assert signatures_valid_for(old, during_headers, during_body)  # receivers not yet switched over
    assert signatures_valid_for(new, after_headers, after_body)
    assert not signatures_valid_for(old, after_headers, after_body)  # the overlap is over
    assert api.as_key(partner_key).post("/api/v1/webhooks/999999/rotate-secret").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_two_tasks_for_one_delivery_call_the_receiver_once(partner, receiver):
    """A retry task and a sweep's task (or a task queued twice) run at once: one of them sends."""
    from recognition.services.webhooks import webhook_deliver

    hook = receiver(delay_s=1.0)
    _, delivery, _ = _delivery(partner, hook.url)
    _make_due(delivery)
    outcomes: list[str] = []

    def attempt():
        from django.db import connection

        try:
            outcomes.append(webhook_deliver(delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(hook.requests) == 1
    assert sorted(outcomes) == ["delivered", "skipped"]
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == "delivered"


@pytest.mark.django_db
def test_a_secret_that_cannot_be_decrypted_fails_the_delivery_with_its_reason(partner, receiver):
    from cryptography.fernet import Fernet

    from recognition.services.webhooks import webhook_deliver

    hook = receiver()
    webhook, delivery, _ = _delivery(partner, hook.url)
    # As if EARSHOT_ENCRYPTION_KEY had changed since the secret was stored.
    Webhook.objects.filter(pk=webhook.pk).update(secret_encrypted=Fernet(Fernet.generate_key()).encrypt(b"x").decode())
    assert webhook_deliver(delivery.pk) == "failed"
    delivery.refresh_from_db()
    webhook.refresh_from_db()
    assert delivery.status == "failed" and "cannot be decrypted" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert not webhook.active and "rotate the secret" in webhook.disabled_reason
    assert hook.requests == []


@pytest.mark.django_db
def test_a_new_delivery_is_due_at_once_and_a_lost_first_task_is_swept_up(partner, receiver):
    from recognition.services.webhooks import webhooks_notify, webhooks_retry_due

    hook = receiver()
    _delivery(partner, hook.url)
    job = Recognition.objects.create(user=partner, status=Recognition.Status.DONE)
    before = timezone.now()
    assert webhooks_notify(job) == 1
    _pending_on_commit()  # the first task is lost: the process died between commit and enqueue
    delivery = WebhookDelivery.objects.get(recognition=job)
    assert delivery.next_attempt_at is not None and before <= delivery.next_attempt_at <= timezone.now()
    assert webhooks_retry_due() == 0  # a task queued a moment ago gets its chance first
    _make_due(delivery)
    assert webhooks_retry_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(hook.requests) == 1


@pytest.mark.django_db
def test_a_failing_webhook_holds_its_other_deliveries_back_by_its_backoff(partner, receiver):
    """A tarpit gets one attempt per backoff, not one per notice: it cannot fill the webhooks queue."""
    from recognition.services.webhooks import BACKOFF_S, webhook_deliver

    hook = receiver(statuses=[500] * 10)
    webhook, first, _ = _delivery(partner, hook.url)
    waiting = [
        WebhookDelivery.objects.create(webhook=webhook, recognition=Recognition.objects.create(user=partner))
        for _ in range(3)
    ]
    assert webhook_deliver(first.pk) == "pending"
    assert [webhook_deliver(delivery.pk) for delivery in waiting] == ["skipped"] * 3
    assert len(hook.requests) == 1
    for delivery in waiting:
        delivery.refresh_from_db()
        assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=BACKOFF_S[0] - 2)
        assert delivery.attempts == 0


class _Tarpit:
    """A receiver that answers one header byte every 4 s, or a 1 GB body as fast as it can."""

    def __init__(self, mode: str):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.sent_bytes = 0
        self.mode = mode
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection):
        try:
            connection.recv(65536)
            if self.mode == "drip":
                for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                    connection.sendall(bytes([byte]))
                    self.sent_bytes += 1
                    time.sleep(4)
            else:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                chunk = b"\0" * 65536
                while self.sent_bytes < 1_000_000_000:
                    connection.sendall(chunk)
                    self.sent_bytes += len(chunk)
        except OSError:
            pass
        finally:
            connection.close()

    def close(self):
        self.listener.close()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["drip", "gigabyte"])
def test_a_tarpit_receiver_holds_an_attempt_no_longer_than_its_deadline(partner, settings, mode):
    from recognition.services.webhooks import webhook_deliver

    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True
    settings.EARSHOT_WEBHOOK_TIMEOUT_S = 2.0
    tarpit = _Tarpit(mode)
    try:
        _, delivery, _ = _delivery(partner, tarpit.url)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        outcome = webhook_deliver(delivery.pk)
        held_s = time.monotonic() - started
    finally:
        tarpit.close()
    delivery.refresh_from_db()
    assert held_s < 3.0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 50
    if mode == "drip":
        assert outcome == "pending" and "too long" in delivery.last_error
    else:  # the status is the answer; the body is never read
        assert outcome == "delivered"


@pytest.mark.django_db
def test_a_test_event_is_a_signed_ping_on_the_webhooks_queue(settings, partner, receiver):
    from django_tasks_db.models import DBTaskResult

    from recognition.services.webhooks import webhook_create, webhook_deliver, webhook_send_test

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "webhooks"]}}
    hook = receiver()
    webhook, secret = webhook_create(user=partner, url=hook.url)
    delivery = webhook_send_test(webhook=webhook)
    for callback in _pending_on_commit():
        callback()
    assert list(DBTaskResult.objects.values_list("queue_name", flat=True)) == ["webhooks"]
    assert webhook_deliver(delivery.pk) == "delivered"
    (headers, body), *_ = hook.requests
    assert signatures_valid_for(secret, headers, body) and headers["Earshot-Delivery"] == str(delivery.pk)
    payload = json.loads(body)
    assert payload == {
        "event": "ping",
        "ping": {"webhook_id": webhook.pk, "sent_at": delivery.created_at.isoformat(), "test": True},
    }


@pytest.mark.django_db
def test_test_events_are_limited_and_not_sent_to_a_switched_off_webhook(partner, receiver):
    from recognition.services.webhooks import WebhookTestRefused, webhook_create, webhook_send_test

    webhook, _ = webhook_create(user=partner, url=receiver().url)
    for _ in range(5):
        webhook_send_test(webhook=webhook)
    with pytest.raises(WebhookTestRefused, match="Too many test events") as refused:
        webhook_send_test(webhook=webhook)
    assert refused.value.retry_after_s > 0
    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    webhook.refresh_from_db()
    with pytest.raises(WebhookTestRefused, match="switched off"):
        webhook_send_test(webhook=webhook)
    assert WebhookDelivery.objects.filter(webhook=webhook, event="ping").count() == 5
