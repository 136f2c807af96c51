"""API-key authentication: `Authorization: Api-Key <key>` makes the request its owner's."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.models import ApiKey

KEYWORD = "Api-Key"
# last_used_at is written at most this often per key, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate a request by a partner's API key; a wrong or revoked key is a 401."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, key = header.partition(" ")
        if scheme != KEYWORD:
            return None
        key = key.strip()
        try:
            api_key = ApiKey.objects.get_from_key(key)
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("This API key is not valid (wrong, revoked or malformed).") from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("This API key has expired.")
        if not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("The account of this API key is disabled.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > TOUCH_EVERY:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return KEYWORD
