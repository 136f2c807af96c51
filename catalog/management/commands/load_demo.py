"""`manage.py load_demo`: demo users (one per role) and the demo catalog, for local use only."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import user_create
from catalog import selectors
from catalog.demo import DEMO_ALBUMS, DemoAlbum, DemoSong, demo_cover, synth_song
from catalog.services import album_artwork_set, album_update, track_update
from recognition.monitors.models import Monitor
from recognition.monitors.services import monitor_create
from recognition.services import track_ingest

DEMO_PASSWORD = "earshot-demo-2026"  # noqa: S105 - published on purpose, local demo only
DEMO_USERS = {
    "demo-listener": Role.LISTENER,
    "demo-creator": Role.CREATOR,
    selectors.DEMO_OWNER: Role.RIGHTS_HOLDER,
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
        started = time.perf_counter()
        owner = User.objects.get(username=selectors.DEMO_OWNER)
        counts = {"added": 0, "in the catalog": 0}
        with tempfile.TemporaryDirectory() as folder:
            for album in DEMO_ALBUMS:
                songs = album.present()
                if not songs:
                    self.stdout.write(f"Demo catalog: {album.title} needs Debian's {album.package}; skipped.")
                    continue
                for song in songs:
                    counts[self._song(owner, album, song, Path(folder))] += 1
                self._album(owner, album)
        self.stdout.write(
            f"Demo catalog: {counts['added']} track(s) added, {counts['in the catalog']} already there, "
            f"in {time.perf_counter() - started:.0f} s."
        )
        self._demo_venue()
        self.stdout.write("Demo accounts (local use only), password " + DEMO_PASSWORD + ":")
        for username, role in DEMO_USERS.items():
            self.stdout.write(f"  {username:15s} {role.label}")

    def _song(self, owner: User, album: DemoAlbum, song: DemoSong, folder: Path) -> str:
        """Ingest a song (a duplicate is found by its bytes) and describe it as the catalog does,
        so that a catalog loaded by an older load_demo gets the names too."""
        path = song.path
        if path is None:
            path = folder / f"{song.seed}.wav"
            _write_wav(path, synth_song(song.seed or 0, 90))
        outcome = track_ingest(path=path, owner=owner, title=song.title, artist_names=[album.artist])
        if outcome.track is None:
            raise CommandError(f"{path}: {outcome.reason}")
        if outcome.track.owner_id == owner.id:  # the same bytes may be another owner's track
            track_update(
                track=outcome.track, title=song.title, artists=[album.artist], album=album.title,
                links=album.links, preview_allowed=True,
            )  # fmt: skip
        return "added" if outcome.status == "added" else "in the catalog"

    def _album(self, owner: User, album: DemoAlbum) -> None:
        row = selectors.albums_visible_to(owner).filter(title=album.title).order_by("pk").first()
        if row is None:
            return
        album_update(album=row, release_year=album.year, label=album.label)
        if not row.artwork:
            album_artwork_set(album=row, image=demo_cover(album))

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
