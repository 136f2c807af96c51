"""`manage.py monitor_worker`: run monitors until SIGTERM (or Ctrl-C); several may run anywhere."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from recognition.monitors.worker import MonitorWorker


class Command(BaseCommand):
    help = "Take monitors by lease and listen to them until SIGTERM; other workers share the load."

    def add_arguments(self, parser):
        parser.add_argument("--capacity", type=int, default=None, help="most monitors (EARSHOT_MONITORS_PER_WORKER)")
        parser.add_argument("--threads", type=int, default=4, help="engine and database threads shared by monitors")
        parser.add_argument("--poll", type=float, default=5.0, help="seconds between lease rounds")

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker = MonitorWorker(capacity=options["capacity"], threads=options["threads"], poll_s=options["poll"])
        self.stderr.write(f"monitor worker {worker.id}: running (SIGTERM stops it)")
        worker.run(stop)
        self.stderr.write(f"monitor worker {worker.id}: stopped")
