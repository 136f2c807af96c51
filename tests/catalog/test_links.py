"""A track's links: names from their hosts, and only plain http(s) addresses kept."""

import pytest
from django.core.exceptions import ValidationError

from catalog.links import MAX_LINKS, link_name, links_cleaned, links_named


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC", "Spotify"),
        ("https://music.apple.com/us/album/x/123", "Apple Music"),
        ("https://music.youtube.com/watch?v=x", "YouTube Music"),
        ("https://www.youtube.com/watch?v=x", "YouTube"),
        ("https://examples.bandcamp.com/album/demos", "Bandcamp"),
        ("https://www.deezer.com/track/1", "Deezer"),
        ("http://www.asc-hq.de/", "asc-hq.de"),
        ("https://label.example/artists/ana", "label.example"),
        ("https://notspotify.com/x", "notspotify.com"),
    ],
)
def test_a_link_is_named_after_its_service_or_host(url, name):
    assert link_name(url) == name


def test_links_are_stripped_without_blanks_and_repeats():
    urls = [" https://open.spotify.com/track/1 ", "", "https://open.spotify.com/track/1", "https://label.example/"]
    assert links_cleaned(urls) == ["https://open.spotify.com/track/1", "https://label.example/"]
    assert links_named(["https://label.example/"]) == [{"name": "label.example", "url": "https://label.example/"}]


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example/song.mp3",
        "https://user:password@label.example/",
        "//label.example/",
        "https://" + "a" * 500 + ".example/",
    ],
)
def test_anything_but_a_plain_http_address_is_refused(url):
    with pytest.raises(ValidationError):
        links_cleaned([url])


def test_at_most_eight_links():
    assert len(links_cleaned([f"https://label.example/{n}" for n in range(MAX_LINKS)])) == MAX_LINKS
    with pytest.raises(ValidationError):
        links_cleaned([f"https://label.example/{n}" for n in range(MAX_LINKS + 1)])
