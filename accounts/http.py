"""The request type of views that only signed-in users reach (for the type checker)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User

__all__ = ["AuthenticatedHttpRequest"]


class AuthenticatedHttpRequest(HttpRequest):
    """An HttpRequest behind login_required (or the admin's own check): its user is a User,
    never AnonymousUser."""

    user: User
