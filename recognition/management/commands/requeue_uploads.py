"""`manage.py requeue_uploads [--every SECONDS]`: queue again jobs whose worker died, and due webhooks;
delete kept media past its retention; move the API keys' usage counts from Redis to their daily rows."""

import time

from django.core.management.base import BaseCommand

from accounts.usage import usage_flush
from recognition.services.uploads import uploads_expire_media, uploads_requeue_stale
from recognition.services.webhooks import webhooks_retry_due


class Command(BaseCommand):
    help = "Requeue upload jobs with a stale heartbeat (their worker was killed). Run from cron, or with --every."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, help="keep running, checking every SECONDS")

    def handle(self, *args, **options):
        while True:
            count = uploads_requeue_stale()
            due = webhooks_retry_due()
            expired = uploads_expire_media()
            usage_flush()
            if count or due or expired:
                self.stdout.write(
                    f"requeued {count} job(s), {due} webhook delivery(ies); deleted {expired} expired kept file(s)"
                )
            if not options["every"]:
                return
            time.sleep(options["every"])
