"""The accounts admin: what staff enter when they create an API key is what the key gets."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from tests.factories import UserFactory

ALL = ["recognize", "catalog", "webhooks", "monitors"]


def _add_key(client, partner, **fields) -> ApiKey:
    data = {
        "name": "from the admin",
        "user": partner.pk,
        "scopes": ALL,
        "expiry_date_0": "",
        "expiry_date_1": "",
        **fields,
    }
    response = client.post("/admin/accounts/apikey/add/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    return ApiKey.objects.get(user=partner, name="from the admin")


@pytest.mark.django_db
def test_staff_created_key_keeps_the_expiry_entered(client):
    client.force_login(UserFactory(role=Role.STAFF))
    partner = UserFactory(role=Role.PARTNER)
    key = _add_key(client, partner, expiry_date_0="2020-01-02", expiry_date_1="03:04:05")
    assert key.expiry_date == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert key.has_expired


@pytest.mark.django_db
def test_staff_created_key_keeps_the_revocation_entered(client):
    client.force_login(UserFactory(role=Role.STAFF))
    partner = UserFactory(role=Role.PARTNER)
    response = client.post(
        "/admin/accounts/apikey/add/",
        {
            "name": "from the admin",
            "user": partner.pk,
            "scopes": ALL,
            "expiry_date_0": "",
            "expiry_date_1": "",
            "revoked": "on",
        },
        follow=True,
    )
    key = ApiKey.objects.get(user=partner, name="from the admin")
    assert key.revoked
    assert "shown only once" not in response.content.decode()  # a dead key is not handed out


@pytest.mark.django_db
def test_an_expired_key_made_in_the_admin_is_refused_by_the_api(client):
    """End to end: the key the message shows does not authenticate once its expiry has passed."""
    client.force_login(UserFactory(role=Role.STAFF))
    partner = UserFactory(role=Role.PARTNER)
    response = client.post(
        "/admin/accounts/apikey/add/",
        {
            "name": "from the admin",
            "user": partner.pk,
            "scopes": ALL,
            "expiry_date_0": "2020-01-02",
            "expiry_date_1": "00:00:00",
        },
        follow=True,
    )
    text = response.content.decode()
    secret = text.split("shown only once): ", 1)[1].split("<", 1)[0].strip()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert api.get("/api/v1/recognitions").status_code in {401, 403}


@pytest.mark.django_db
def test_a_key_past_the_users_limit_is_refused_on_the_admin_form(client, settings):
    from accounts.services import api_key_create

    settings.EARSHOT_API_KEYS_PER_USER = 1
    client.force_login(UserFactory(role=Role.STAFF))
    partner = UserFactory(role=Role.PARTNER)
    api_key_create(user=partner, name="the one allowed")
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"name": "from the admin", "user": partner.pk, "scopes": ALL, "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 200  # the form again, with the reason; not a 500
    assert "at most 1 API keys" in response.content.decode()
    assert not ApiKey.objects.filter(user=partner, name="from the admin").exists()


@pytest.mark.django_db
def test_staff_created_key_gets_the_scopes_ticked_and_a_listener_gets_none(client):
    client.force_login(UserFactory(role=Role.STAFF))
    partner = UserFactory(role=Role.PARTNER)
    key = _add_key(client, partner, scopes=["catalog"])
    assert key.scopes == ["catalog"]
    assert "catalog" in client.get("/admin/accounts/apikey/").content.decode()
    listener = UserFactory(role=Role.LISTENER, username="self-signed")
    response = client.post(
        "/admin/accounts/apikey/add/",
        {"name": "from the admin", "user": listener.pk, "scopes": ALL, "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 200
    assert "API keys are for partner accounts; self-signed is a listener account" in response.content.decode()
    assert not ApiKey.objects.filter(user=listener).exists()
