"""Reads of the partner console: a user's webhooks and their recent deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from recognition.models import Webhook, WebhookDelivery

__all__ = ["DELIVERIES_SHOWN", "webhook_deliveries_recent", "webhooks_of"]

# Recent deliveries the console lists under a webhook; the API pages through all of them.
DELIVERIES_SHOWN = 50


def webhooks_of(user: User) -> QuerySet[Webhook]:
    """The user's webhooks, newest first."""
    return Webhook.objects.filter(user=user).order_by("-created_at", "-id")


def webhook_deliveries_recent(webhook: Webhook, *, limit: int = DELIVERIES_SHOWN) -> list[WebhookDelivery]:
    """A webhook's latest deliveries, newest first: what was sent, how it went, when."""
    return list(webhook.deliveries.order_by("-created_at", "-id")[:limit])
