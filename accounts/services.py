"""Write paths for users: every creation and role change goes through here."""

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ADMIN_ROLES, ApiKey, ApiScope, Role, User, all_scopes

__all__ = [
    "ApiKeyRefused",
    "api_key_create",
    "api_key_refusal",
    "api_key_revoke",
    "user_apply_role",
    "user_create",
    "user_set_role",
    "user_update_profile",
]


@transaction.atomic
def user_create(*, username: str, password: str | None, email: str = "", role: str = Role.LISTENER) -> User:
    """Create a user with a role; the admin flag follows the role. Raise ValidationError for a weak password."""
    user = user_apply_role(User(username=username, email=email), role)
    if password is None:
        user.set_unusable_password()
    else:
        validate_password(password, user)
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


def user_apply_role(user: User, role: str) -> User:
    """Set the role and the admin flag that goes with it, without saving."""
    user.role = role
    user.is_staff = user.is_superuser or role in ADMIN_ROLES
    return user


def user_set_role(*, user: User, role: str) -> User:
    """Give a saved user a new role and the admin access that goes with it."""
    user_apply_role(user, role)
    user.save(update_fields=["role", "is_staff"])
    return user


def user_update_profile(*, user: User, email: str, first_name: str, last_name: str) -> User:
    """Change the personal fields a user may edit themselves (never role or flags)."""
    user.email = email
    user.first_name = first_name
    user.last_name = last_name
    user.save(update_fields=["email", "first_name", "last_name"])
    return user


def api_key_refusal(user: User) -> str:
    """Why `user` may not get another API key ("" when they may).

    Listeners get none (the API is for the roles of API_ROLES; staff grant the partner role), and
    EARSHOT_API_KEYS_PER_USER keys that are neither revoked nor expired are the most an account holds.
    """
    if not user.may_use_api:
        return (
            f"API keys are for partner accounts; {user.username} is a {user.get_role_display().lower()} "
            "account. Staff can give it the partner role."
        )
    usable = ApiKey.objects.filter(user=user, revoked=False).filter(
        Q(expiry_date__isnull=True) | Q(expiry_date__gt=timezone.now())
    )
    limit = settings.EARSHOT_API_KEYS_PER_USER
    if usable.count() >= limit:
        return f"An account may hold at most {limit} API keys; revoke one you no longer use."
    return ""


class ApiKeyRefused(Exception):
    """The user may not get a key: their role holds none, or they hold as many as an account may."""


@transaction.atomic
def api_key_create(
    *, user: User, name: str, expiry_date: datetime | None = None, scopes: Iterable[str] | None = None
) -> tuple[ApiKey, str]:
    """Create an API key for a user; return it and the key itself, which is never shown again.

    `scopes` are the parts of the API it opens (ApiScope; every scope when None). Raise
    ApiKeyRefused when the user's role holds no keys, or when they already hold
    EARSHOT_API_KEYS_PER_USER keys that are neither revoked nor expired (the user's row is
    locked, so concurrent requests count right); ValueError for an unknown or empty set of scopes.
    """
    User.objects.select_for_update().filter(pk=user.pk).first()
    refusal = api_key_refusal(user)
    if refusal:
        raise ApiKeyRefused(refusal)
    chosen = all_scopes() if scopes is None else [scope for scope in ApiScope.values if scope in set(scopes)]
    unknown = set(scopes or ()) - set(ApiScope.values)
    if unknown or not chosen:
        raise ValueError(f"Give a key one or more of the scopes {', '.join(ApiScope.values)}.")
    api_key, key = ApiKey.objects.create_key(user=user, name=name[:50] or "key", expiry_date=expiry_date, scopes=chosen)
    return cast(ApiKey, api_key), key  # the library types it as its abstract base


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good (it cannot be re-enabled)."""
    api_key.revoked = True
    api_key.save(update_fields=["revoked"])
    return api_key
