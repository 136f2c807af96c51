"""G5: per-key quotas hold across server processes (Redis), with 429 and Retry-After."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from accounts.models import Role
from accounts.services import api_key_create
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_sixty_concurrent_requests_at_ten_a_minute_across_two_workers(start_daphne):
    limits = {"EARSHOT_API_RATE_PER_MINUTE": "10", "EARSHOT_API_BURST": "10"}
    servers = [start_daphne(**limits), start_daphne(**limits)]  # two processes, one Redis
    key = api_key_create(user=UserFactory(role=Role.PARTNER), name="load")[1]
    other_key = api_key_create(user=UserFactory(role=Role.PARTNER), name="other")[1]

    def call(i):
        response = requests.get(
            f"{servers[i % 2]}/api/v1/tracks", headers={"Authorization": f"Api-Key {key}"}, timeout=30
        )
        return response.status_code, response.headers.get("Retry-After"), response.json()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(60)))
    allowed = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 429]
    assert len(allowed) + len(refused) == 60
    assert 1 <= len(allowed) <= 12, f"{len(allowed)} allowed"
    assert all(retry and int(retry) >= 1 for _, retry, _ in refused)
    assert all(body["error"]["code"] == "throttled" for _, _, body in refused)
    # The bucket is per key: another partner is not slowed down.
    fresh = requests.get(f"{servers[0]}/api/v1/tracks", headers={"Authorization": f"Api-Key {other_key}"}, timeout=30)
    assert fresh.status_code == 200


@pytest.mark.django_db
def test_more_keys_buy_no_more_requests_and_each_key_has_its_own_share(api, settings):
    """The bucket is per user (so three keys share it), and per key within it."""
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 0.01, "burst": 6, "key_rate_per_minute": 0.01, "key_burst": 4}
    user = UserFactory(role=Role.PARTNER)
    keys = [api_key_create(user=user, name=f"k{i}")[1] for i in range(3)]
    first = [api.as_key(keys[0]).get("/api/v1/recognitions").status_code for _ in range(5)]
    assert first == [200] * 4 + [429]  # one key: its own share of 4
    rest = [api.as_key(key).get("/api/v1/recognitions").status_code for key in keys[1:] for _ in range(4)]
    assert rest.count(200) == 2 and rest.count(429) == 6  # the user's 6 in all, whatever the key
    refused = api.as_key(keys[2]).get("/api/v1/recognitions")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    # Another user of the same service is not slowed down.
    other = api_key_create(user=UserFactory(role=Role.PARTNER), name="other")[1]
    assert api.as_key(other).get("/api/v1/recognitions").status_code == 200
