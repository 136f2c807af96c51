"""`manage.py storage_sweep`: delete stored media that no row refers to (left by a crash)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from portal.storage import storage_sweep


class Command(BaseCommand):
    help = (
        "Delete stored objects under the media prefixes (tracks/, artwork/, previews/, uploads/, "
        "monitors/evidence/) that no row refers to and that are older than the grace period; print each "
        "deletion and the counts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace-s",
            type=int,
            default=settings.EARSHOT_STORAGE_SWEEP_GRACE_S,
            help="keep objects younger than this (default: EARSHOT_STORAGE_SWEEP_GRACE_S, %(default)s s)",
        )
        parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")

    def handle(self, *args, grace_s: int, dry_run: bool, **options):
        result = storage_sweep(grace=timedelta(seconds=grace_s), dry_run=dry_run, log=self.stdout.write)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"storage sweep: {result.listed} listed, {result.referenced} referenced, "
            f"{result.young} younger than {grace_s} s, {len(result.deleted)} {verb}"
        )
