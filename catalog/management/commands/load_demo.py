"""`manage.py load_demo`: demo users (one per role) and a few catalog tracks, for local use only."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import user_create
from catalog.demo import demo_music_files, synth_song
from recognition.monitors.models import Monitor
from recognition.monitors.services import monitor_create
from recognition.services import track_ingest

DEMO_PASSWORD = "earshot-demo-2026"  # noqa: S105 - published on purpose, local demo only
DEMO_USERS = {
    "demo-listener": Role.LISTENER,
    "demo-creator": Role.CREATOR,
    "demo-rights": Role.RIGHTS_HOLDER,
    "demo-partner": Role.PARTNER,
    "demo-monitor": Role.MONITOR,
    "demo-staff": Role.STAFF,
}


class Command(BaseCommand):
    help = "Create demo users (printed credentials) and a small demo catalog. Refuses outside DEBUG."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="run even when DEBUG is off (never in production)")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError("Demo users have a published password: load_demo runs only with DJANGO_DEBUG=true.")
        for username, role in DEMO_USERS.items():
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=DEMO_PASSWORD, role=role)
        owner = User.objects.get(username="demo-rights")
        added = 0
        for path in demo_music_files():
            added += track_ingest(path=path, owner=owner, artist_names=["Drascula soundtrack"]).status == "added"
        with tempfile.TemporaryDirectory() as folder:
            for seed, title in ((7, "Earshot Demo Song"), (8, "Synthetic Sunrise")):
                path = Path(folder) / f"{title}.wav"
                _write_wav(path, synth_song(seed, 90))
                added += (
                    track_ingest(path=path, owner=owner, title=title, artist_names=["Earshot Synth"]).status == "added"
                )
        self.stdout.write(f"Demo catalog: {added} track(s) added.")
        self._demo_venue()
        self.stdout.write("Demo accounts (local use only), password " + DEMO_PASSWORD + ":")
        for username, role in DEMO_USERS.items():
            self.stdout.write(f"  {username:15s} {role.label}")

    def _demo_venue(self) -> None:
        """A device monitor for demo-monitor: this computer's microphone as a venue listener."""
        owner = User.objects.get(username="demo-monitor")
        if owner.monitors.exists():
            return
        monitor, token = monitor_create(owner=owner, name="Demo venue (this computer)", kind=Monitor.Kind.DEVICE)
        self.stdout.write(
            f"Demo venue monitor: open /monitors/{monitor.pk}/device#token={token} as the venue's listener "
            "(the token is shown only now; rotate it on the monitor's page)."
        )


def _write_wav(path: Path, samples) -> None:
    import wave

    import numpy as np

    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(22050)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
