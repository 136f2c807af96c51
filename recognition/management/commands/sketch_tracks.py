"""`manage.py sketch_tracks`: frame sketches for tracks ingested before sketches existed."""

from django.core.management.base import BaseCommand

from recognition.services import tracks_sketch_missing


class Command(BaseCommand):
    help = (
        "Sketch every fingerprinted track without frame sketches, from its stored audio. Until then such "
        "tracks are recognised by their landmarks alone (short clips less often)."
    )

    def handle(self, *args, **options):
        counts = tracks_sketch_missing()
        self.stdout.write(
            f"sketched {counts['sketched']} track(s); {counts['no_audio']} without stored audio "
            f"(ingest them again); {counts['failed']} failed (unreadable audio)"
        )
