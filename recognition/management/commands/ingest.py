"""`manage.py ingest PATH...`: add reference audio files (or folders of them) to the catalog."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from tqdm import tqdm

from accounts.models import Role, User
from recognition import workers

# Extensions picked up when walking a folder; files named explicitly are always tried.
MEDIA_SUFFIXES = {
    ".aac", ".ac3", ".aif", ".aiff", ".amr", ".ape", ".au", ".avi", ".caf", ".flac", ".flv", ".m4a",
    ".m4v", ".mka", ".mkv", ".mov", ".mp2", ".mp3", ".mp4", ".mpc", ".mpeg", ".mpg", ".oga", ".ogg",
    ".opus", ".ts", ".tta", ".w64", ".wav", ".weba", ".webm", ".wma", ".wmv", ".wv",
}  # fmt: skip
DEFAULT_OWNER = "catalog"


class Command(BaseCommand):
    help = "Fingerprint audio or video files (folders are walked recursively) into the catalog."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="files or folders")
        parser.add_argument(
            "--owner",
            default=DEFAULT_OWNER,
            help=f"username of the rights holder who owns the tracks (default: {DEFAULT_OWNER!r}, "
            "created as a rights holder if missing)",
        )
        parser.add_argument("--artist", help="artist of every file (instead of the files' tags)")
        parser.add_argument("--album", help="album of every file (instead of the files' tags)")
        parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
        parser.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
        parser.add_argument(
            "--no-store-audio",
            action="store_true",
            help="fingerprint only; do not copy the reference audio into storage",
        )

    def handle(self, *args, **options):
        files = list(_expand(options["paths"]))
        if not files:
            raise CommandError("No media files found in the given paths.")
        owner = _owner(options["owner"])
        job = {
            "owner_id": owner.id,
            "artist": options["artist"],
            "album": options["album"],
            "store_audio": not options["no_store_audio"],
        }
        jobs = max(1, options["jobs"])
        counts = {"added": 0, "duplicate": 0, "failed": 0}
        seconds = 0.0
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            results = _run(files, job, jobs, stack)  # before tqdm's thread: workers are forked
            progress = tqdm(total=len(files), unit="file", file=sys.stderr, disable=None)
            for result in results:
                counts[result["status"]] += 1
                seconds += result.pop("duration_s", 0.0) or 0.0
                progress.update()
                if options["json"]:
                    self.stdout.write(json.dumps(result))
                elif result["status"] == "failed":
                    progress.write(f"failed: {result['path']}: {result['reason']}")
            progress.close()
        elapsed = time.perf_counter() - started
        _analyze()
        summary = (
            f"{counts['added']} added, {counts['duplicate']} duplicates skipped, {counts['failed']} failed; "
            f"{seconds / 60:.1f} min of audio in {elapsed:.1f} s ({seconds / max(elapsed, 1e-9):.0f}x real time)"
        )
        self.stderr.write(summary)


def _expand(paths):
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if not name.startswith(".") and Path(name).suffix.lower() in MEDIA_SUFFIXES:
                        yield str(Path(root) / name)
        else:
            yield raw


def _owner(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    if username != DEFAULT_OWNER:
        raise CommandError(f"No user named {username!r}.")
    from accounts.services import user_create

    return user_create(username=DEFAULT_OWNER, password=None, role=Role.RIGHTS_HOLDER)


def _run(files: list[str], job: dict, jobs: int, stack: contextlib.ExitStack) -> Iterator[dict]:
    """Start ingesting `files`; return their descriptions as they come (in order with one job)."""
    if jobs == 1:
        return workers.ingest_files(files, job)
    # The largest files first, so that the run does not end on one long file decoding alone.
    order = sorted(files, key=_size, reverse=True)
    # Workers are forked from this process, Django already set up (a spawned one pays a second of
    # imports before its first file), with no thread running yet and its connections closed first,
    # so that no worker inherits an open one. A caller that runs threads already (a test process, a
    # server calling the command) gets spawned workers: a fork copies no thread but every lock they hold.
    connections.close_all()
    if threading.active_count() == 1:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"))
    else:
        pool = ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=workers.setup
        )
    stack.enter_context(pool)
    futures = [pool.submit(workers.ingest_file, path, job) for path in order]
    return (future.result() for future in as_completed(futures))


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _analyze() -> None:
    """Refresh planner statistics so lookups use the index right after a bulk load."""
    from django.db import connection

    from recognition.store import TABLE

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")
