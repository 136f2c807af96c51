"""The client's address as the configured proxy saw it, and nobody else's word for it.

Behind the ingress every connection comes from the proxy, which names the client in
`X-Forwarded-For`. Anyone can send that header, so it is believed only from a peer in
settings.EARSHOT_TRUSTED_PROXIES, and then only its right-most hop that is not itself a proxy
(hops to the left of it are whatever the client wrote). The header is then removed, so nothing
further in (Django's REMOTE_ADDR, DRF's throttles, the socket limits) can read a forged one.
Daphne must not run with --proxy-headers, which believes the header from any peer.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

__all__ = ["TrustedProxyHeaders", "forwarded_client"]

HEADER = b"x-forwarded-for"


@lru_cache(maxsize=4)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _is_proxy(address: str | None, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


def forwarded_client(scope: dict, proxies: tuple[str, ...]) -> dict:
    """Return `scope` without X-Forwarded-For and, if a trusted proxy sent it, with the client
    it names as scope["client"]."""
    headers = scope.get("headers") or []
    forwarded = [value for name, value in headers if name.lower() == HEADER]
    if not forwarded:
        return scope
    scope = {**scope, "headers": [(name, value) for name, value in headers if name.lower() != HEADER]}
    peer = (scope.get("client") or [None])[0]
    if not _is_proxy(peer, proxies):
        return scope
    hops = [hop.strip() for value in forwarded for hop in value.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):
        if _is_proxy(hop, proxies):
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return scope  # the proxy wrote something that is not an address: keep the peer
        return {**scope, "client": (hop, 0)}
    return scope


class TrustedProxyHeaders:
    """ASGI middleware for HTTP and websockets: see the module docstring."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in {"http", "websocket"}:
            scope = forwarded_client(scope, tuple(settings.EARSHOT_TRUSTED_PROXIES))
        return await self.app(scope, receive, send)
