"""bench/growth.py: which earlier points a run keeps beside its own."""

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
