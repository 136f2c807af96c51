"""Delete what monitors keep past their retention: `python manage.py monitors_prune` (for cron)."""

from django.core.management.base import BaseCommand

from recognition.monitors import retention, retroactive


class Command(BaseCommand):
    help = (
        "Delete retained minutes and detection evidence files older than their monitor's retention_days "
        "(the monitor workers also do it hourly), and queue again retroactive scans that waited too long."
    )

    def handle(self, *args, **options):
        before = retention.retained_bytes()
        pruned = retention.retention_prune()
        after = retention.retained_bytes()
        self.stdout.write(
            f"Deleted {pruned.minutes} retained minutes ({before - after} bytes) and "
            f"{pruned.evidence_files} evidence files; {after} bytes retained."
        )
        if retroactive.retroactive_scans_requeue():
            self.stdout.write("Queued again the retroactive scans that waited too long.")
