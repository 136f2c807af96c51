"""Limits on sign-up and log-in attempts, per network and per username (settings.EARSHOT_SIGN_IN).

Every log-in attempt costs its network a token, and every failed one costs the username a token
(a success gives it back), so guessing one account's password from many addresses is as slow as
from one. Sign-ups cost the network and the username asked for. The admin's log-in is the same
log-in. Buckets live in Redis (portal.ratelimit), shared by every server process.
"""

from __future__ import annotations

import math

from django.conf import settings

from portal.ratelimit import RateLimit, address_key, username_key

__all__ = ["TooManyAttempts", "login_attempt", "login_succeeded", "sign_up_attempt"]


class TooManyAttempts(Exception):
    """An attempt over a limit; `message` is what the visitor is told, `retry_after_s` when to retry."""

    def __init__(self, message: str, retry_after_s: float):
        minutes = max(1, math.ceil(retry_after_s / 60))
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        self.message = f"{message} Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        super().__init__(self.message)


def _limit(name: str) -> RateLimit:
    burst, per_hour = settings.EARSHOT_SIGN_IN[name]
    return RateLimit(name, burst=burst, per_hour=per_hour)


def _take(name: str, key: str, message: str) -> None:
    allowed, wait_s = _limit(name).take(key)
    if not allowed:
        raise TooManyAttempts(message, wait_s)


def login_attempt(*, address: str | None, username: str) -> None:
    """Count a log-in attempt before the password is checked, or raise TooManyAttempts."""
    _take("login_per_address", address_key(address), "Too many log-in attempts from your network.")
    _take("login_failures_per_username", username_key(username), "Too many failed log-ins for this account.")


def login_succeeded(*, username: str) -> None:
    """Give the username back the token its attempt took: only failures count against an account."""
    _limit("login_failures_per_username").give_back(username_key(username))


def sign_up_attempt(*, address: str | None, username: str) -> None:
    """Count a sign-up attempt before the form is checked, or raise TooManyAttempts."""
    _take("sign_up_per_address", address_key(address), "Too many sign-ups from your network.")
    _take("sign_up_per_username", username_key(username), "Too many sign-ups for this username.")
