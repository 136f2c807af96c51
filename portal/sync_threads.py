"""Long-lived threads for the synchronous part of Django's HTTP requests under Daphne.

Django's ASGI handler runs a request's synchronous code (middleware, views, signals) on a thread
of its own: a new thread for every request, joined by yet another thread at its end, and since
Django's database connections belong to threads, a new PostgreSQL connection (a new server
process) for every request. This ASGI middleware gives each HTTP request one of a few long-lived
threads instead (asgiref's `ThreadSensitiveContext` with a caller-owned executor; Django's own
context then finds one already set and adds none), so a thread's connection serves request after
request, closed by Django's usual rules (CONN_MAX_AGE, CONN_HEALTH_CHECKS, an error). Requests
still run side by side, each on its own thread; when more are in flight than there are threads,
the extra ones get a thread of their own, as before, and their connection is closed with it; so is
the connection of a thread whose request ended early, before that thread serves again.
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
        self._settling: set[asyncio.Task] = set()

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
        finished = False
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
            finished = True
        finally:
            if pooled and finished:
                self._idle.append(executor)
            else:
                # A thread of this request only, or one whose request ended early (a client gone, an
                # error: its view may still be running there): once it is idle, close its connection,
                # then let it serve again or go.
                settling = asyncio.get_running_loop().create_task(self._settle(executor, pooled))
                self._settling.add(settling)
                settling.add_done_callback(self._settling.discard)

    async def _settle(self, executor: ThreadPoolExecutor, pooled: bool) -> None:
        try:
            await asyncio.wrap_future(executor.submit(_close_connections))
        finally:
            if pooled:
                self._idle.append(executor)
            else:
                executor.shutdown(wait=False)
