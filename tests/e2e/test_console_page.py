"""The partner console in headless Chromium: a test event sent from the page is delivered, signed,
to a real receiver by a real webhooks worker, and the page shows it delivered."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from accounts.models import Role
from accounts.services import api_key_create
from recognition.models import WebhookDelivery
from recognition.services.webhooks import webhook_create
from tests.conftest import subprocess_environment
from tests.factories import UserFactory
from tests.receivers import signatures_valid_for

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
# What the server and the worker need: webhooks to loopback (the receiver), and deliveries queued in
# PostgreSQL for the worker of the `webhooks` queue, as `make run` and production run them.
ENV = {"EARSHOT_WEBHOOKS_ALLOW_PRIVATE": "true", "DJANGO_TASKS_BACKEND": "django_tasks_db.DatabaseBackend"}


@pytest.fixture
def webhooks_worker(transactional_db, tmp_path):
    """`manage.py db_worker --queue-name webhooks`, against the test database."""
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed at teardown
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "webhooks", "--interval", "0.2",
         "--no-startup-delay"],
        cwd=ROOT, env={**subprocess_environment(), **ENV, "DJANGO_DEBUG": "false"}, stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield worker
    worker.terminate()
    worker.wait(timeout=10)
    log.close()


def _get(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Api-Key {key}"})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_console_sends_a_test_event_and_shows_it_delivered(
    start_daphne, webhooks_worker, receiver, chromium, tmp_path, monkeypatch
):
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are plain
    # synchronous ones all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    server = start_daphne(**ENV)
    partner = UserFactory(role=Role.PARTNER, username="acme-radio")
    hook = receiver()
    webhook, secret = webhook_create(user=partner, url=hook.url)
    _, key = api_key_create(user=partner, name="radio app", scopes=["recognize", "webhooks"])
    # Requests made with the key through the real server: counted by the ASGI path of the usage count.
    statuses = [_get(f"{server}/api/v1/recognitions", key) for _ in range(5)] + [_get(f"{server}/api/v1/tracks", key)]
    assert statuses == [200] * 5 + [403]
    session = Client()
    session.force_login(partner)
    context = chromium.new_context(viewport={"width": 1100, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": session.cookies[settings.SESSION_COOKIE_NAME].value, "url": server}]
    )
    page = context.new_page()
    key_row = page.locator("[data-testid=keys] tbody tr").first
    deadline = time.monotonic() + 10  # the server counts after answering, in a worker thread
    while True:
        page.goto(f"{server}/console/")
        if key_row.locator("[data-field=requests]").inner_text() == "6" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert key_row.locator("[data-field=requests]").inner_text() == "6"
    assert key_row.locator("[data-field=errors]").inner_text() == "1"
    page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
    assert page.locator("nav a", has_text="API docs").get_attribute("href") == "/api/v1/docs"
    page.locator("[data-testid=webhooks] a", has_text=hook.url).click()
    page.locator("[data-testid=send-test]").click()
    assert "A test event (`ping`) is on its way" in page.content()
    # The page refreshes itself while the delivery is pending; the worker delivers it meanwhile.
    status = page.locator("[data-testid=deliveries] [data-field=status]").first
    status.filter(has_text="delivered").wait_for(timeout=30_000)
    row = page.locator("[data-testid=deliveries] tbody tr").first
    assert row.locator("[data-field=event]").inner_text() == "ping"
    assert row.locator("[data-field=attempts]").inner_text() == "1"
    assert row.locator("[data-field=response]").inner_text() == "200"
    page.screenshot(path=str(tmp_path / "console-webhook.png"), full_page=True)
    (headers, body), *more = hook.requests
    assert not more and signatures_valid_for(secret, headers, body)
    assert json.loads(body) == {
        "event": "ping",
        "ping": {
            "webhook_id": webhook.pk,
            "sent_at": WebhookDelivery.objects.get(webhook=webhook).created_at.isoformat(),
            "test": True,
        },
    }
    context.close()
    connections.close_all()  # the connection the ORM opened in Playwright's context is not pytest-django's
