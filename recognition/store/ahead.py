"""Lookups asked ahead: a clip's later lookups in every track, run on another connection while
the clip's own work goes on (recognition.engine's LookupMemo.ask_ahead).

A clip that fails as heard takes the denser look and the speed retries, and each asks thousands
of triplet values of the primary key, one after another, with the engine's work on their rows in
between. Their values depend only on the clip, so one thread of the process looks them up on its
own connection while the clip's thread works: the database's time and the engine's overlap
instead of adding up (docs/decisions.md, ask_ahead). One thread a process, so a process never
holds more than one extra connection; a lookup it has not started when the clip needs it is
taken back and run by the clip's own thread, so no clip waits behind another's. Its connection
follows CONN_MAX_AGE and the health checks like a request's, and is closed when it has been idle
that long, after an error, and by `close_connection` (tests, before their database goes).

Not inside a transaction: rows read on another connection would not see the caller's own
uncommitted writes, so there `lookup_later` returns None and the clip looks up as before.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np
from django.db import connection

from recognition.engine import LookupRows
from recognition.store.triplets import triplet_rows

__all__ = ["close_connection", "lookup_later"]

_IDLE_S = 60.0  # closed after this long without work when CONN_MAX_AGE keeps none (0 or None)


class _Ask:
    """One group of values, run by the helper unless the clip's thread took it back first
    (cancelled its future)."""

    def __init__(self, values: np.ndarray, row_cap: int):
        self.values = values
        self.row_cap = row_cap
        self.future: Future[LookupRows] = Future()


_queue: queue.SimpleQueue[_Ask | threading.Event] = queue.SimpleQueue()
_helper: list[threading.Thread] = []  # the process's helper, once started (one a process)
_thread_lock = threading.Lock()


def _idle_s() -> float:
    age = connection.settings_dict.get("CONN_MAX_AGE")
    return float(age) if age else _IDLE_S


def _serve() -> None:
    while True:
        try:
            item = _queue.get(timeout=_idle_s())
        except queue.Empty:
            connection.close()
            continue
        if isinstance(item, threading.Event):  # close_connection
            connection.close()
            item.set()
            continue
        if not item.future.set_running_or_notify_cancel():  # the clip took it back
            continue
        try:
            connection.close_if_unusable_or_obsolete()
            item.future.set_result(triplet_rows(item.values, None, row_cap=item.row_cap))
        except BaseException as error:  # reported to the clip, which asks on its own connection
            item.future.set_exception(error)
            connection.close()


def lookup_later(groups: list[np.ndarray], *, row_cap: int) -> list[Future[LookupRows]] | None:
    """Futures of each group's triplet rows in every track, looked up in order on the helper's
    connection; None inside a transaction (see the module's docstring)."""
    if connection.in_atomic_block:
        return None
    with _thread_lock:
        if not (_helper and _helper[0].is_alive()):
            _helper[:] = [threading.Thread(target=_serve, name="earshot-ask-ahead", daemon=True)]
            _helper[0].start()
    asks = [_Ask(np.asarray(values, np.int64), row_cap) for values in groups]
    for ask in asks:
        _queue.put(ask)
    return [ask.future for ask in asks]


def close_connection(timeout_s: float = 10.0) -> bool:
    """Close the helper's connection once the work queued before is done; True when it is closed
    (or there is no helper)."""
    with _thread_lock:
        if not (_helper and _helper[0].is_alive()):
            return True
    done = threading.Event()
    _queue.put(done)
    return done.wait(timeout_s)
