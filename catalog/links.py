"""A track's links: the addresses its rights holder gives (streaming services, the label's page).

A rights holder sends plain URLs; the name a page shows on each link's button comes from its host
("Spotify", "Bandcamp"), or is the host itself for a site not listed here (a label's page).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

__all__ = ["MAX_LINKS", "MAX_LINK_CHARS", "link_name", "links_cleaned", "links_named"]

MAX_LINKS = 8  # the model's ArrayField size
MAX_LINK_CHARS = 500

# Hosts (and their subdomains) of the services listeners look for, and the name on the button.
SERVICES = {
    "spotify.com": "Spotify",
    "music.apple.com": "Apple Music",
    "itunes.apple.com": "Apple Music",
    "music.youtube.com": "YouTube Music",
    "youtube.com": "YouTube",
    "youtu.be": "YouTube",
    "deezer.com": "Deezer",
    "tidal.com": "TIDAL",
    "music.amazon.com": "Amazon Music",
    "bandcamp.com": "Bandcamp",
    "soundcloud.com": "SoundCloud",
    "qobuz.com": "Qobuz",
}

_validate_url = URLValidator(schemes=["http", "https"])


def link_name(url: str) -> str:
    """The name of the service a URL belongs to, else its host without "www."."""
    host = (urlsplit(url).hostname or "").lower()
    labels = host.split(".")
    for start in range(len(labels)):
        name = SERVICES.get(".".join(labels[start:]))
        if name:
            return name
    return host.removeprefix("www.")


def links_cleaned(urls: Iterable[str]) -> list[str]:
    """Return the URLs stripped, without blanks and repeats; raise ValidationError for a URL that
    is not plain http(s) (a script, credentials), is too long, or for more than MAX_LINKS."""
    cleaned: list[str] = []
    for raw in urls:
        url = raw.strip()
        if not url or url in cleaned:
            continue
        if len(url) > MAX_LINK_CHARS:
            raise ValidationError(f"A link is at most {MAX_LINK_CHARS} characters.", code="invalid")
        _validate_url(url)
        if "@" in urlsplit(url).netloc:
            raise ValidationError("A link may not carry a user name or password.", code="invalid")
        cleaned.append(url)
    if len(cleaned) > MAX_LINKS:
        raise ValidationError(f"At most {MAX_LINKS} links.", code="invalid")
    return cleaned


def links_named(urls: Iterable[str]) -> list[dict[str, str]]:
    """The links as a page shows them: `[{"name": "Spotify", "url": "https://…"}]`."""
    return [{"name": link_name(url), "url": url} for url in urls]
