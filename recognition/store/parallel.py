"""A second connection for stage 1: a long lookup in every track split in two, half on each.

A never-indexed clip asks tens of thousands of triplet values in every track across its looks,
and at 10^8 triplet rows their primary-key probes are most of its time in the database, one
backend process probing while the clip's own process waits (docs/scaling.md, "Where the time
goes"). Each value's rows do not depend on the other values asked with it, so half of a long
lookup can run on a second connection at the same time: on a machine with a core to spare the
lookup takes about half as long; on one without, no longer. It does no less work, so it shortens
a clip's wait, not what a loaded server serves (docs/decisions.md, "Stage 1 on two connections").

One helper thread per process holds the second connection (a DatabaseWrapper of its own, with
the caller's settings, closed after each use when CONN_MAX_AGE is 0, as Django closes a request's).
A lookup splits only when the helper is idle, so concurrent clips never queue behind each other,
and only outside a transaction: the second connection cannot see rows a transaction has not
committed. If the helper fails (the database restarted, say), the caller runs that half itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connection, connections

__all__ = ["SPLIT_MIN_VALUES", "elsewhere", "result_or_here"]

logger = logging.getLogger(__name__)

# Values probed (those the presence filter lets through) below which a lookup is not split: a
# few milliseconds of probes, which the hand-over to the helper thread and a second round trip
# would eat (docs/decisions.md, "Stage 1 on two connections").
SPLIT_MIN_VALUES = 1024


class _Helper:
    """The helper thread and its connection, made on first use in each process."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="earshot-lookup")
        self._idle = threading.Lock()
        self._wrappers: dict[tuple, Any] = {}  # touched by the helper thread only

    def try_submit(self, settings: dict, job: Callable[[Any], Any]) -> Future | None:
        """Run `job(cursor)` on the helper's connection to the database `settings` (a Django
        DATABASES entry) names, or return None at once if the helper is busy."""
        if not self._idle.acquire(blocking=False):
            return None
        try:
            return self._pool.submit(self._run, settings, job)
        except RuntimeError:  # the interpreter is shutting down
            self._idle.release()
            return None

    def _run(self, settings: dict, job: Callable[[Any], Any]) -> Any:
        try:
            key = tuple(str(settings.get(name)) for name in ("ENGINE", "NAME", "HOST", "PORT", "USER"))
            wrapper = self._wrappers.get(key)
            if wrapper is None:
                # A wrapper of the default connection's backend (psycopg2's), made in this thread.
                wrapper_class = type(connections[connection.alias])
                wrapper = self._wrappers[key] = wrapper_class(dict(settings), alias=connection.alias)
            wrapper.close_if_unusable_or_obsolete()
            try:
                with wrapper.cursor() as cursor:
                    return job(cursor)
            except Exception:
                wrapper.close()
                raise
            finally:
                if settings.get("CONN_MAX_AGE") == 0:
                    wrapper.close()
        finally:
            self._idle.release()


_helper: _Helper | None = None
_helper_pid: int | None = None
_helper_lock = threading.Lock()


def _the_helper() -> _Helper:
    """This process's helper (a forked child makes its own: threads do not survive a fork)."""
    global _helper, _helper_pid
    with _helper_lock:
        if _helper is None or _helper_pid != os.getpid():
            _helper, _helper_pid = _Helper(), os.getpid()
        return _helper


def elsewhere(values: int, job: Callable[[Any], Any]) -> Future | None:
    """Start `job(cursor)` on the second connection if a lookup of `values` values should split
    and may: long enough, on (EARSHOT_SPLIT_LOOKUPS), outside a transaction, the helper idle.
    None: run it here."""
    if not settings.EARSHOT_SPLIT_LOOKUPS or values < SPLIT_MIN_VALUES:
        return None
    if connection.in_atomic_block or not connection.get_autocommit():
        return None
    return _the_helper().try_submit(connection.settings_dict, job)


def result_or_here(future: Future, job: Callable[[Any], Any], cursor) -> Any:
    """The helper's result, or, if it failed, the same job run on the caller's cursor."""
    try:
        return future.result()
    except Exception:  # any failure of the second connection: the first runs its half
        logger.warning("the second lookup connection failed; that half ran on the first", exc_info=True)
        return job(cursor)
