"""Byte ranges of stored media (portal/ranges.py): what a media element's seeking asks for."""

import pytest

from portal.ranges import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-", (0, 999)),
        ("bytes=100-199", (100, 199)),
        ("bytes=900-5000", (900, 999)),  # past the end: up to the end
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),
        ("", None),
        ("bytes=0-10,20-30", None),  # several ranges: the whole file
        ("bytes=20-10", None),  # backwards: ignored
        ("items=0-10", None),
    ],
)
def test_one_range_is_read_from_the_header(header, expected):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_past_the_end_cannot_be_satisfied(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)
