"""Run the suite on every core: scripts/test.sh starts pytest-xdist workers with `-p tests.workers`.

pytest-django gives each worker a test database of its own (test_earshot_gw0, _gw1, …); this gives
each its own Redis database and cache prefix, so one worker's flush (tests/conftest.py) never empties
another's cache, channel layer or locks. It runs when the plugin is imported, before pytest-env and
Django read the environment, and sets `os.environ`, so the servers and commands a test starts inherit
the same database. Outside xdist it changes nothing.
"""

from __future__ import annotations

import os
import re

# Redis databases the tests may flush, one per worker (the controller and a plain run use 15).
# 14 is tests/test_deploy.py's production-like settings and 0 is `make run`'s: neither is flushed.
REDIS_DATABASES = (15, 13, 12, 11, 10, 9, 8, 7)
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def redis_url_for(worker: str, base: str) -> str:
    """`base` with its database number replaced by the worker's (`gw0` → 15, `gw1` → 13, …)."""
    number = int(worker.removeprefix("gw"))
    if number >= len(REDIS_DATABASES):
        raise RuntimeError(f"at most {len(REDIS_DATABASES)} test workers: Redis has no more databases to give")
    return re.sub(r"/\d+$", "", base) + f"/{REDIS_DATABASES[number]}"


_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    os.environ["REDIS_URL"] = redis_url_for(_worker, os.environ.get("REDIS_URL", DEFAULT_REDIS))
    os.environ["CACHE_KEY_PREFIX"] = f"earshot-test-{_worker}"
