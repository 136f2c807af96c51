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
