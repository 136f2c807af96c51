"""API key scopes and API roles: a key opens only its scopes; listeners do not use the API."""

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import URLResolver, get_resolver

from accounts.models import ApiKey, ApiScope, Role
from accounts.permissions import ApiAccess
from accounts.services import api_key_create, user_set_role

# An endpoint of each scope that staff may call (so only the scope decides).
ENDPOINTS = {
    "recognize": ["/api/v1/recognitions"],
    "catalog": ["/api/v1/tracks", "/api/v1/albums", "/api/v1/reports/plays"],
    "webhooks": ["/api/v1/webhooks"],
    "monitors": ["/api/v1/monitors"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ApiScope.values)
def test_a_key_opens_its_scopes_and_nothing_else(api, staff, scope):
    client = api.as_key(api_key_create(user=staff, name=scope, scopes=[scope])[1])
    for endpoint_scope, urls in ENDPOINTS.items():
        for url in urls:
            response = client.get(url)
            if endpoint_scope == scope:
                assert response.status_code == 200, (url, response.content)
                continue
            assert response.status_code == 403, url
            error = response.json()["error"]
            assert error["code"] == "missing_scope"
            assert f"does not have the `{endpoint_scope}` scope (it has: {scope})" in error["message"]


@pytest.mark.django_db
def test_writes_need_the_scope_too(api, rights_holder):
    key = api_key_create(user=rights_holder, name="reader", scopes=["recognize"])[1]
    response = api.as_key(key).post("/api/v1/tracks", {"title": "x"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "missing_scope"
    assert api.as_key(key).delete("/api/v1/tracks/1").status_code == 403


def _api_views():
    api = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "api")
    for pattern in api.url_patterns:
        view = getattr(pattern.callback, "cls", None)
        if view is not None and not view.__module__.startswith("drf_spectacular"):
            yield pattern.name, view


def test_every_api_view_names_its_scope_and_checks_access_first():
    """A view added later without a scope is open to no key; this test says so before a user does."""
    views = dict(_api_views())
    assert len(views) >= 18
    default = settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]
    assert default == ["accounts.permissions.ApiAccess"]
    for name, view in views.items():
        assert getattr(view, "api_scope", None) in ApiScope.values, name
        assert view.permission_classes[0] is ApiAccess, name


@pytest.mark.django_db
def test_a_session_is_not_scoped(client, partner):
    client.force_login(partner)
    assert client.get("/api/v1/webhooks").status_code == 200
    assert client.get("/api/v1/recognitions").status_code == 200


@pytest.mark.django_db
def test_a_listener_may_not_call_the_api_even_with_an_old_key_until_staff_grant_the_role(api, make_user):
    listener = make_user(Role.LISTENER, username="early-bird")
    _, key = ApiKey.objects.create_key(user=listener, name="made before roles were checked")
    refused = api.as_key(key).get("/api/v1/recognitions")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "api_not_allowed",
        "message": "The API is for partner accounts; yours is a listener account. Staff can give it the partner role.",
    }
    user_set_role(user=listener, role=Role.PARTNER)
    assert api.as_key(key).get("/api/v1/recognitions").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "url", "status"),
    [
        (Role.CREATOR, "/api/v1/recognitions", 200),  # creators send long recordings through the API
        (Role.RIGHTS_HOLDER, "/api/v1/tracks?mine=true", 200),
        (Role.RIGHTS_HOLDER, "/api/v1/reports/plays", 200),
        (Role.MONITOR, "/api/v1/monitors", 200),
        (Role.MONITOR, "/api/v1/webhooks", 200),
        (Role.CREATOR, "/api/v1/webhooks", 403),  # as before: webhooks are for partners and monitors
    ],
)
def test_the_roles_that_used_the_api_keep_what_they_used(api, make_user, role, url, status):
    key = api_key_create(user=make_user(role), name="k")[1]
    assert api.as_key(key).get(url).status_code == status


@pytest.mark.django_db(transaction=True)
def test_keys_made_before_scopes_get_every_scope_in_the_migration():
    before, after = [("accounts", "0003_alter_user_role")], [("accounts", "0004_apikey_scopes_and_usage_days")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before)
        old = executor.loader.project_state(before).apps
        user = old.get_model("accounts", "User").objects.create(username="old-partner", role="partner")
        old.get_model("accounts", "ApiKey").objects.create(
            id="oldkey12.hash", prefix="oldkey12", hashed_key="hash", name="old", user=user
        )
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        assert ApiKey.objects.get(prefix="oldkey12").scopes == ApiScope.values
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
