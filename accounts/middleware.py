"""Count every API request made with a key, and whether it failed, for the partner console."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import connections

from accounts.models import ApiKey
from accounts.usage import usage_record
from portal.ratelimit import redis_client

__all__ = ["ApiKeyUsageMiddleware"]

log = logging.getLogger(__name__)


def _record_quietly(prefix: str, failed: bool) -> None:
    # Usage figures are worth less than the request: a Redis hiccup loses a count, never an answer.
    try:
        usage_record(prefix=prefix, failed=failed)
    except Exception:
        log.warning("api key usage not recorded", exc_info=True)


def _record_in_thread(prefix: str, failed: bool) -> None:
    _record_quietly(prefix, failed)
    if redis_client() is None:  # counted in the database: a pool thread must not keep a connection
        connections.close_all()


class ApiKeyUsageMiddleware:
    """After a response to a request authenticated by an API key (DRF puts the key on the
    request as `auth`), count it for the key: a request, and an error if the status is 4xx or 5xx.

    Under ASGI the count is handed to a worker thread and not awaited, so it adds nothing to the
    response's time and never blocks the event loop; requests without a key cost one getattr.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    @staticmethod
    def _key(request) -> ApiKey | None:
        key = getattr(request, "auth", None)
        return key if isinstance(key, ApiKey) else None

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        response = self.get_response(request)
        key = self._key(request)
        if key is not None:
            _record_quietly(key.prefix, response.status_code >= 400)
        return response

    async def __acall__(self, request):
        response = await self.get_response(request)
        key = self._key(request)
        if key is not None:
            asyncio.get_running_loop().run_in_executor(None, _record_in_thread, key.prefix, response.status_code >= 400)
        return response
