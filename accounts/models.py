"""Earshot users: Django's user with one role that decides what they may do."""

from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager


class Role(models.TextChoices):
    LISTENER = "listener", "Listener"
    CREATOR = "creator", "Content creator"
    RIGHTS_HOLDER = "rights_holder", "Rights holder"
    PARTNER = "partner", "Partner"
    MONITOR = "monitor", "Monitor (security)"
    STAFF = "staff", "Staff"


# Roles that work in the Django admin; Django's `is_staff` flag follows the role (see
# accounts.services.user_set_role) and a check constraint keeps the two from drifting apart.
ADMIN_ROLES = (Role.RIGHTS_HOLDER, Role.STAFF)
SELF_SERVICE_ROLES = (Role.LISTENER, Role.CREATOR)
UPLOAD_ROLES = (Role.CREATOR, Role.RIGHTS_HOLDER, Role.STAFF)
MONITOR_ROLES = (Role.MONITOR, Role.RIGHTS_HOLDER, Role.STAFF)
# Roles that hold API keys and call the API. Listeners sign themselves up, so they do not: an
# account that anyone can make in a minute must not buy an API allowance (staff grant the
# partner role). Creators, rights holders and monitors keep the parts of the API they use.
API_ROLES = (Role.CREATOR, Role.RIGHTS_HOLDER, Role.PARTNER, Role.MONITOR, Role.STAFF)
WEBHOOK_ROLES = (Role.PARTNER, Role.MONITOR, Role.STAFF)


class ApiScope(models.TextChoices):
    """What a key may be used for; every API endpoint belongs to one scope."""

    RECOGNIZE = "recognize", "Recognize: identify clips, submit and read recognitions"
    CATALOG = "catalog", "Catalog: search and manage tracks, read reports"
    WEBHOOKS = "webhooks", "Webhooks: register and manage webhooks"
    MONITORS = "monitors", "Monitors: manage monitors, read and dispute detections"


def all_scopes() -> list[str]:
    """Every scope: what keys made before scopes existed, and keys made without a choice, hold."""
    return list(ApiScope.values)


class User(AbstractUser):
    """A person or partner organisation using Earshot.

    The role is the single source of permissions: rights holders manage their own catalog in the
    admin, staff manage everything, partners use the API, creators upload media, monitors watch
    streams and venues, listeners identify songs. Superusers keep Django's meaning (everything).
    """

    role = models.CharField(max_length=20, choices=Role.choices, default=Role.LISTENER)

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="user_is_staff_follows_role",
                condition=Q(is_superuser=True)
                | Q(is_staff=True, role__in=ADMIN_ROLES)
                | (Q(is_staff=False) & ~Q(role__in=ADMIN_ROLES)),
            ),
        ]

    @property
    def sees_whole_catalog(self) -> bool:
        return self.is_superuser or self.role == Role.STAFF

    @property
    def manages_catalog(self) -> bool:
        return self.is_superuser or self.role in ADMIN_ROLES

    @property
    def can_upload(self) -> bool:
        """Creators (and rights holders checking videos, and staff) upload media to scan."""
        return self.is_superuser or self.role in UPLOAD_ROLES

    @property
    def can_monitor(self) -> bool:
        """Security professionals (the monitor role), rights holders and staff run monitors."""
        return self.is_superuser or self.role in MONITOR_ROLES

    @property
    def may_use_api(self) -> bool:
        """Every role but the listener holds API keys and calls the API (API_ROLES)."""
        return self.is_superuser or self.role in API_ROLES

    @property
    def uses_webhooks(self) -> bool:
        """Partners (jobs finished), monitors (detections) and staff, who help them, have webhooks."""
        return self.is_superuser or self.role in WEBHOOK_ROLES


class ApiKeyManager(APIKeyManager):
    def get_usable_keys(self):
        # The key's user is needed on every authenticated request: fetch it in the same query.
        return super().get_usable_keys().select_related("user")


class ApiKey(AbstractAPIKey):
    """A key a partner's programs use on the API, on behalf of one user.

    Only a SHA-512 hash of the random secret is stored (djangorestframework-api-key); the key is
    shown once, when it is created, and can be revoked but never read again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The parts of the API the key opens (accounts.permissions.ApiAccess checks them).
    scopes = ArrayField(models.CharField(max_length=20, choices=ApiScope.choices), default=all_scopes)

    objects: ClassVar[ApiKeyManager] = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class ApiKeyUsageDay(models.Model):
    """How often one key was used on one day (UTC), and how many of those requests failed.

    Requests are counted in Redis as they happen and added here by `accounts.usage.usage_flush`
    (the requeuer runs it every minute), so the API pays no database write per request.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "day"], name="one_usage_row_per_key_and_day")]

    def __str__(self) -> str:
        return f"{self.api_key.name} on {self.day:%Y-%m-%d}: {self.requests} requests, {self.errors} errors"
