"""`manage.py db_worker`: django-tasks-db's worker, plus a heartbeat that /readyz reports.

The heartbeat thread writes to the cache every few seconds for as long as the process lives; a
killed worker stops beating, and readiness shows it "stale" within a minute.
"""

import contextlib
import threading

from django_tasks_db.management.commands.db_worker import Command as TasksDbWorker

from portal.observability import worker_heartbeat

BEAT_EVERY_S = 10.0


class Command(TasksDbWorker):
    def handle(self, *args, **options):
        stop = threading.Event()

        def beat() -> None:
            while not stop.is_set():
                with contextlib.suppress(Exception):  # a missed beat shows as staleness
                    worker_heartbeat()
                stop.wait(BEAT_EVERY_S)

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()
