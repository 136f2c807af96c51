"""Sign-up, log-in, log-out and profile pages, with the bad input a real visitor sends."""

import pytest
from django.db import IntegrityError
from django.urls import reverse

from accounts.models import Role, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_sign_up_creates_a_listener_and_logs_in(client):
    response = client.post(
        reverse("accounts:sign_up"),
        {
            "username": "newcomer",
            "email": "n@example.com",
            "role": "listener",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    assert user.role == Role.LISTENER and not user.is_staff
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_sign_up_as_creator(client):
    client.post(
        reverse("accounts:sign_up"),
        {
            "username": "maker",
            "role": "creator",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert User.objects.get(username="maker").role == Role.CREATOR


def test_sign_up_with_taken_name_is_a_form_error(client):
    UserFactory(username="taken")
    response = client.post(
        reverse("accounts:sign_up"),
        {
            "username": "taken",
            "role": "listener",
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert User.objects.filter(username="taken").count() == 1


@pytest.mark.parametrize("weak", ["short", "password123", "1234567890123"])
def test_sign_up_with_weak_password_is_a_form_error(client, weak):
    response = client.post(
        reverse("accounts:sign_up"),
        {
            "username": "weakling",
            "role": "listener",
            "password1": weak,
            "password2": weak,
        },
    )
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not User.objects.filter(username="weakling").exists()


@pytest.mark.parametrize("role", ["rights_holder", "partner", "staff"])
def test_sign_up_cannot_choose_a_privileged_role(client, role):
    response = client.post(
        reverse("accounts:sign_up"),
        {
            "username": "climber",
            "role": role,
            "password1": "a-long-enough-passphrase",
            "password2": "a-long-enough-passphrase",
        },
    )
    assert response.status_code == 400
    assert not User.objects.filter(username="climber").exists()


def test_log_in_and_out(client):
    UserFactory(username="alice")
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_log_in_with_wrong_password_fails(client):
    UserFactory(username="alice")
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_profile_edits_personal_fields_only(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    response = client.post(
        reverse("accounts:profile"),
        {
            "email": "new@example.com",
            "first_name": "Al",
            "last_name": "Ice",
            "role": "staff",
            "is_staff": "on",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "new@example.com" and user.first_name == "Al"
    assert user.role == Role.LISTENER and not user.is_staff


def test_database_keeps_admin_flag_in_step_with_role():
    user = UserFactory(role=Role.LISTENER)
    user.is_staff = True
    with pytest.raises(IntegrityError):
        user.save()
