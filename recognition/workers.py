"""Entry points for worker processes (they import nothing from Django at load time)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recognition.services import IngestOutcome


def setup() -> None:
    """Set Django up in a freshly spawned worker process (a forked one has it already)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()


def ingest_file(path: str, job: dict) -> dict:
    """Ingest one file and describe the outcome; never raises, so one bad file cannot stop a run."""
    from accounts.models import User
    from recognition.services import track_ingest

    try:
        owner = User.objects.get(pk=job["owner_id"])
        outcome = track_ingest(path=path, owner=owner, **_options(job))
    except Exception as error:
        return _failed(path, error)
    return _described(path, outcome)


def ingest_files(paths: list[str], job: dict) -> Iterator[dict]:
    """Ingest files in their order in this process, each described as ingest_file describes it;
    the next file is read (decoded, fingerprinted) while the one before is written."""
    from accounts.models import User
    from recognition.services import tracks_ingest

    try:
        owner = User.objects.get(pk=job["owner_id"])
    except Exception as error:
        for path in paths:
            yield _failed(path, error)
        return
    outcomes = tracks_ingest(paths=paths, owner=owner, **_options(job))
    for path, outcome in outcomes:
        yield _described(path, outcome)


def _options(job: dict) -> dict:
    """What a run's job says of every file: its artist and album, whether its audio is kept."""
    return {
        "artist_names": [job["artist"]] if job.get("artist") else None,
        "album_title": job.get("album"),
        "store_audio": job.get("store_audio", True),
    }


def _failed(path: str, error: Exception) -> dict:
    return {"path": path, "track_id": None, "title": None, "status": "failed", "reason": f"internal error: {error}"}


def _described(path: str, outcome: IngestOutcome) -> dict:
    track = outcome.track
    return {
        "path": path,
        "track_id": track.id if track else None,
        "title": track.title if track else None,
        "status": outcome.status,
        "reason": outcome.reason,
        "duration_s": track.duration_s if track and outcome.status == "added" else 0.0,
    }
