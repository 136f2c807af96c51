"""Background tasks (django.tasks, run by `manage.py db_worker`): where to find each of them.

Each task is declared beside the service that queues it and that it runs: a service that
imported its task from here would import this module, which imports the service. A task is
queued under its own module's path; these names stay importable for tasks queued as
`recognition.tasks.<name>`.
"""

from recognition.monitors.retroactive import scan_retained
from recognition.services.uploads import process_upload
from recognition.services.webhooks import deliver_webhook

__all__ = ["deliver_webhook", "process_upload", "scan_retained"]
