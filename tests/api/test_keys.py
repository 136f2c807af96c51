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


def test_keys_on_the_account_page(client, partner):
    client.force_login(partner)
    response = client.post("/accounts/profile/api-keys/", {"name": "web shop"}, follow=True)
    text = response.content.decode()
    key = text.split("it will not be shown again): ")[1].split("<")[0].strip()
    assert ApiKey.objects.get_from_key(key).name == "web shop"
    assert key not in client.get("/accounts/profile/").content.decode()  # shown once
    prefix = key.split(".")[0]
    client.post(f"/accounts/profile/api-keys/{prefix}/revoke/")
    assert ApiKey.objects.get(prefix=prefix).revoked


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


def test_create_api_key_keeps_an_existing_users_role(make_user):
    make_user(Role.LISTENER, username="listener1")
    _key, note = _create("listener1", "--role", "monitor")
    assert User.objects.get(username="listener1").role == Role.LISTENER and "stays listener" in note


def test_create_api_key_gives_a_rights_holder_the_admin(db):
    _create("label2", "--role", "rights_holder")
    assert User.objects.get(username="label2").is_staff


def test_keys_per_user_are_capped_and_a_revoked_one_frees_a_place(client, partner, settings):
    settings.EARSHOT_API_KEYS_PER_USER = 3
    client.force_login(partner)
    for i in range(3):
        assert (
            "it will not be shown again"
            in client.post("/accounts/profile/api-keys/", {"name": f"k{i}"}, follow=True).content.decode()
        )
    refused = client.post("/accounts/profile/api-keys/", {"name": "k3"}, follow=True).content.decode()
    assert "at most 3 API keys" in refused and "it will not be shown again" not in refused
    with pytest.raises(CommandError, match="at most 3 API keys"):
        _create(partner.username)
    assert ApiKey.objects.filter(user=partner).count() == 3
    client.post(f"/accounts/profile/api-keys/{ApiKey.objects.filter(user=partner).first().prefix}/revoke/")
    assert (
        "it will not be shown again"
        in client.post("/accounts/profile/api-keys/", {"name": "k4"}, follow=True).content.decode()
    )
