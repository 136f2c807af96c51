"""Sign-up, log-in and admin log-in attempts are limited per network and per username (G26)."""

import pytest
from django.urls import reverse

from accounts.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.EARSHOT_SIGN_IN = {
        "login_per_address": (6, 120),
        "login_failures_per_username": (3, 30),
        "sign_up_per_address": (3, 20),
        "sign_up_per_username": (5, 10),
    }


def _log_in(client, username, password, address="203.0.113.7", url="accounts:login"):
    return client.post(reverse(url), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failed_log_ins_lock_the_username_from_any_address(client):
    UserFactory(username="victim")
    for attempt in range(3):
        assert _log_in(client, "victim", "guess", address=f"198.51.100.{attempt}").status_code == 200
    refused = _log_in(client, "Victim", PASSWORD, address="192.0.2.99")  # right password, other case
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 60
    assert "Too many failed log-ins for this account. Try again in 2 minutes." in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_successful_log_ins_do_not_count_against_the_username(client):
    UserFactory(username="regular")
    for _ in range(5):
        assert _log_in(client, "regular", PASSWORD).status_code == 302
        client.logout()


def test_one_network_cannot_spray_usernames(client):
    for n in range(6):
        assert _log_in(client, f"user{n}", "guess", address=f"2001:db8:1:2::{n + 1}").status_code == 200
    refused = _log_in(client, "user99", "guess", address="2001:db8:1:2:ffff::1")  # same /64
    assert refused.status_code == 429
    assert "Too many log-in attempts from your network." in refused.content.decode()
    assert _log_in(client, "user99", "guess", address="2001:db8:1:3::1").status_code == 200  # next /64


def test_the_admin_log_in_is_limited_too(client, staff):
    for _ in range(3):
        _log_in(client, staff.username, "guess", url="admin:login")
    refused = _log_in(client, staff.username, PASSWORD, url="admin:login")
    assert "Too many failed log-ins for this account." in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_ups_are_limited_per_network(client):
    def sign_up(name, address):
        fields = {"username": name, "role": "listener", "password1": "a-long-enough-passphrase"}
        return client.post(
            reverse("accounts:sign_up"), {**fields, "password2": fields["password1"]}, REMOTE_ADDR=address
        )

    for n in range(3):
        assert sign_up(f"bot{n}", "203.0.113.9").status_code == 302
        client.logout()
    refused = sign_up("bot3", "203.0.113.9")
    assert refused.status_code == 429 and "Too many sign-ups from your network." in refused.content.decode()
    assert not User.objects.filter(username="bot3").exists()
    assert sign_up("human", "203.0.113.10").status_code == 302
