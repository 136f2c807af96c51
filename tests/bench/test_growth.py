"""bench/growth.py: which earlier points a run keeps beside its own, where the tables are
warmed, and how a timing's wait on the disk is counted."""

import pytest
from django.db import connection

from bench import growth


def test_a_run_replaces_its_own_engines_points_and_keeps_another_engines():
    earlier = [
        {"rows": 600_000, "code": "old"},
        {"rows": 300_000_000, "code": "old"},
        {"rows": 300_000_000, "code": "new"},
        {"rows": 30_000_000, "code": "new"},
    ]
    points = [{"rows": 310_000_000, "code": "new", "p95_ms": 1.0}]
    merged = growth._merged(earlier, points)
    assert merged == [
        {"rows": 600_000, "code": "old"},
        {"rows": 30_000_000, "code": "new"},  # a size this run did not reach
        {"rows": 300_000_000, "code": "old"},  # another engine at the same size
        {"rows": 310_000_000, "code": "new", "p95_ms": 1.0},
    ]
    unnamed = growth._merged([{"rows": 300_000_000}], [{"rows": 300_000_000, "p95_ms": 2.0}])
    assert unnamed == [{"rows": 300_000_000, "p95_ms": 2.0}]


@pytest.mark.django_db
def test_tables_that_fit_the_servers_buffers_are_warmed_there():
    seconds, mode = growth.prewarm()
    assert mode == "buffer"  # the test database's hash tables are far under 128 MB
    assert seconds >= 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_prewarm'")
        assert cursor.fetchone()[0] == 1


def test_iowait_is_the_share_of_ticks_spent_waiting_between_two_readings():
    before = [100, 0, 50, 800, 10, 0, 0, 0, 0, 0]
    after = [160, 0, 70, 880, 50, 0, 0, 0, 0, 0]  # 60 user, 20 system, 80 idle, 40 iowait
    assert growth.iowait_pct(before, after) == 20.0
    assert growth.iowait_pct(before, before) == 0.0
    ticks = growth.cpu_ticks()
    assert len(ticks) >= 5 and all(value >= 0 for value in ticks)
