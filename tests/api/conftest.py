"""API fixtures: partner keys and an API client that sends them."""

import pytest

from accounts.models import Role
from accounts.services import api_key_create


@pytest.fixture
def partner(make_user):
    return make_user(Role.PARTNER, username="partner_a")


@pytest.fixture
def partner_key(partner):
    return api_key_create(user=partner, name="tests")[1]


@pytest.fixture
def holder_key(rights_holder):
    return api_key_create(user=rights_holder, name="label sync")[1]


@pytest.fixture
def other_key(other_rights_holder):
    return api_key_create(user=other_rights_holder, name="other label")[1]


@pytest.fixture(autouse=True)
def _generous_throttle(settings):
    """Tests other than the throttling ones must not hit the rate limit."""
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}
