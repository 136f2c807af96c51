"""Entry points for worker processes (spawned, so they import nothing from Django at load time)."""

from __future__ import annotations

import os


def setup() -> None:
    """Set Django up in a freshly spawned worker process."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()


def ingest_file(path: str, job: dict) -> dict:
    """Ingest one file and describe the outcome; never raises, so one bad file cannot stop a run."""
    from accounts.models import User
    from recognition.services import track_ingest

    try:
        owner = User.objects.get(pk=job["owner_id"])
        outcome = track_ingest(
            path=path,
            owner=owner,
            artist_names=[job["artist"]] if job.get("artist") else None,
            album_title=job.get("album"),
            store_audio=job.get("store_audio", True),
        )
    except Exception as error:
        return {"path": path, "track_id": None, "title": None, "status": "failed", "reason": f"internal error: {error}"}
    track = outcome.track
    return {
        "path": path,
        "track_id": track.id if track else None,
        "title": track.title if track else None,
        "status": outcome.status,
        "reason": outcome.reason,
        "duration_s": track.duration_s if track and outcome.status == "added" else 0.0,
    }
