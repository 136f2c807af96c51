"""Long-lived threads for the synchronous part of Django's HTTP requests under Daphne.

Django's ASGI handler runs a request's synchronous code (middleware, views, signals) on a thread
of its own: a new thread for every request, joined by yet another thread at its end, and since
Django's database connections belong to threads, a new PostgreSQL connection (a new server
process) for every request. This ASGI middleware gives each HTTP request one of a few long-lived
threads instead (asgiref's `ThreadSensitiveContext` with a caller-owned executor; Django's own
context then finds one already set and adds none), so a thread's connection serves request after
request, closed by Django's usual rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS, an error). Requests
still run side by side, each on its own thread; when more are in flight than there are threads,
the extra ones get a thread of their own, as before, and their connection is closed with it.
(docs/decisions.md, The API at 8 clients.)
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.db import connections

__all__ = ["PooledSyncThreads"]


def _close_connections() -> None:
    connections.close_all()


class PooledSyncThreads:
    """Run each HTTP request's synchronous code on one of `size` long-lived threads."""

    def __init__(self, app, size: int):
        self.app = app
        self.size = size
        self._idle: list[ThreadPoolExecutor] = []
        self._made = 0

    def _take(self) -> tuple[ThreadPoolExecutor, bool]:
        """A thread's executor, and whether it goes back to the pool after the request."""
        if self._idle:
            return self._idle.pop(), True
        if self._made < self.size:
            self._made += 1
            return ThreadPoolExecutor(1, thread_name_prefix=f"earshot-sync-{self._made}"), True
        return ThreadPoolExecutor(1, thread_name_prefix="earshot-sync-extra"), False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.size <= 0:
            return await self.app(scope, receive, send)
        executor, pooled = self._take()
        try:
            async with ThreadSensitiveContext(executor=executor):
                return await self.app(scope, receive, send)
        finally:
            if pooled:
                self._idle.append(executor)
            else:  # a thread for this request only: its connection goes with it
                await asyncio.wrap_future(executor.submit(_close_connections))
                executor.shutdown(wait=False)
