"""Who may call the API at all, and what an API key opens: the first permission of every API view."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from accounts.models import ApiKey

__all__ = ["ApiAccess"]


class ApiAccess(BasePermission):
    """Allow signed-in users whose role uses the API (User.may_use_api) and, for a request made with
    an API key, only the views of the key's scopes.

    Every API view names its scope in `api_scope` (an ApiScope value); a view without one is open
    to no key, so a view added without thinking of scopes fails closed. Session requests (the
    portal's own pages) are not scoped: scopes limit what a key given to a program can do.
    Which objects, and which actions within a scope, a role may touch stays the business of the
    view's own permissions, which run after this one.
    """

    message = "Sign in or send an API key."
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.may_use_api:
            self.code = "api_not_allowed"
            self.message = (
                f"The API is for partner accounts; yours is a {user.get_role_display().lower()} account. "
                "Staff can give it the partner role."
            )
            return False
        key = request.auth
        if isinstance(key, ApiKey):
            scope = getattr(view, "api_scope", None)
            if scope is None or not key.has_scope(scope):
                self.code = "missing_scope"
                self.message = (
                    f"This API key does not have the `{scope}` scope (it has: {', '.join(key.scopes) or 'none'}); "
                    "create a key with it in the partner console."
                    if scope
                    else "No API key may call this endpoint."
                )
                return False
        return True
