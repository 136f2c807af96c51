"""API keys: created (shown once), working, revoked, wrong; never stored in clear."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiKey, Role, User

pytestmark = pytest.mark.django_db
URL = "/api/v1/recognitions"


def _create(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue().strip().splitlines()[-1], err.getvalue()


def test_key_lifecycle(api):
    key, note = _create("acme", "--name", "ingestion bot")
    user = User.objects.get(username="acme")
    assert user.role == Role.PARTNER and "Created partner user" in note
    assert api.as_key(key).get(URL).status_code == 200
    stored = ApiKey.objects.get(user=user)
    assert stored.name == "ingestion bot" and stored.last_used_at is not None
    stored.revoked = True
    stored.save()
    response = api.as_key(key).get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_second_key_for_an_existing_user(make_user):
    user = make_user(Role.RIGHTS_HOLDER, username="label")
    key, note = _create("label", "--name", "sync")
    assert "Created partner user" not in note
    assert ApiKey.objects.get_from_key(key).user == user
    assert User.objects.get(username="label").role == Role.RIGHTS_HOLDER


@pytest.mark.parametrize("header", ["Api-Key nonsense", "Api-Key abc.def", "Api-Key ", "Bearer x", ""])
def test_wrong_or_missing_keys_are_401_with_the_error_shape(api, partner_key, header):
    if header:
        api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get(URL)
    assert response.status_code == 401
    assert set(response.json()["error"]) >= {"code", "message"}


def test_a_key_is_never_stored_in_clear(partner_key):
    prefix, _, secret = partner_key.partition(".")
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, prefix, hashed_key, name FROM accounts_apikey")
        rows = cursor.fetchall()
    dumped = repr(rows)
    assert prefix in dumped  # the public prefix identifies the key
    assert secret not in dumped and partner_key not in dumped


def _new_key_on_the_console(client, name: str, scopes=("recognize",)) -> str:
    """Create a key on the console as a browser would; return the key the answer shows ("" if refused)."""
    response = client.post("/console/keys/new", {"name": name, "scopes": list(scopes)})
    text = response.content.decode()
    if 'data-testid="new-key">' not in text:
        return ""
    assert response["Cache-Control"] == "no-store"
    return text.split('data-testid="new-key">')[1].split("<")[0].strip()


def test_keys_on_the_console(client, partner):
    client.force_login(partner)
    key = _new_key_on_the_console(client, "web shop", scopes=["recognize", "webhooks"])
    stored = ApiKey.objects.get_from_key(key)
    assert stored.name == "web shop" and stored.scopes == ["recognize", "webhooks"]
    assert key not in client.get("/console/").content.decode()  # shown once
    client.post(f"/console/keys/{stored.prefix}/revoke")
    assert ApiKey.objects.get(prefix=stored.prefix).revoked


def test_create_api_key_makes_a_monitor_user_that_may_monitor(api):
    key, note = _create("guard-co", "--role", "monitor")
    user = User.objects.get(username="guard-co")
    assert user.role == Role.MONITOR and user.can_monitor and not user.is_staff
    assert "Created monitor (security) user guard-co" in note
    response = api.as_key(key).post("/api/v1/monitors", {"name": "Bar", "kind": "device"}, format="json")
    assert response.status_code == 201


def test_create_api_key_refuses_an_unknown_role_with_the_list():
    with pytest.raises(CommandError) as refused:
        _create("someone", "--role", "admin")
    assert "Unknown role 'admin'" in str(refused.value) and "monitor" in str(refused.value)
    assert not User.objects.filter(username="someone").exists()


def test_create_api_key_keeps_an_existing_users_role_and_gives_a_listener_no_key(make_user):
    make_user(Role.LISTENER, username="listener1")
    with pytest.raises(CommandError, match="API keys are for partner accounts; listener1 is a listener account"):
        _create("listener1", "--role", "monitor")
    assert User.objects.get(username="listener1").role == Role.LISTENER
    assert not ApiKey.objects.filter(user__username="listener1").exists()
    make_user(Role.CREATOR, username="creator1")
    _key, note = _create("creator1", "--role", "monitor")
    assert User.objects.get(username="creator1").role == Role.CREATOR and "stays content creator" in note


def test_create_api_key_makes_no_listener_and_takes_scopes(api):
    with pytest.raises(CommandError, match="holds no API keys"):
        _create("newcomer", "--role", "listener")
    assert not User.objects.filter(username="newcomer").exists()
    key, note = _create("scanner", "--scope", "recognize", "--scope", "catalog")
    assert ApiKey.objects.get_from_key(key).scopes == ["recognize", "catalog"]
    assert "scopes: recognize, catalog" in note
    assert api.as_key(key).get(URL).status_code == 200
    assert api.as_key(key).get("/api/v1/webhooks").status_code == 403


def test_create_api_key_gives_a_rights_holder_the_admin(db):
    _create("label2", "--role", "rights_holder")
    assert User.objects.get(username="label2").is_staff


def test_keys_per_user_are_capped_and_a_revoked_one_frees_a_place(client, partner, settings):
    settings.EARSHOT_API_KEYS_PER_USER = 3
    client.force_login(partner)
    for i in range(3):
        assert _new_key_on_the_console(client, f"k{i}")
    refused = client.post("/console/keys/new", {"name": "k3", "scopes": ["recognize"]})
    assert refused.status_code == 400 and "at most 3 API keys" in refused.content.decode()
    assert 'data-testid="new-key"' not in refused.content.decode()
    with pytest.raises(CommandError, match="at most 3 API keys"):
        _create(partner.username)
    assert ApiKey.objects.filter(user=partner).count() == 3
    client.post(f"/console/keys/{ApiKey.objects.filter(user=partner).first().prefix}/revoke")
    assert _new_key_on_the_console(client, "k4")
