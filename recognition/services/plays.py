"""The play ledger: each catalog track a finished recognition heard becomes a Play row.

Every place that saves a recognition done (the listening socket, API clips, upload jobs) calls
`plays_record` in the transaction that saves it, so a recognition and its plays appear together
or not at all; the reports (recognition/reports/) read the plays, never the recognitions.
"""

from __future__ import annotations

from catalog.models import Track
from recognition.models import Play, Recognition

__all__ = ["plays_of", "plays_record"]


def plays_of(recognition: Recognition) -> list[Play]:
    """Return the unsaved plays of a finished recognition: one per segment of a clip or an upload,
    or one for a listen's match, each with the change its segment or match reported; none when it
    failed or matched nothing (or its tracks are gone)."""
    if recognition.status != Recognition.Status.DONE or recognition.created_at is None:
        return []
    common = {"recognition": recognition, "source": recognition.source, "heard_at": recognition.created_at}
    if recognition.segments:
        ids = {int(segment["track_id"]) for segment in recognition.segments}
        existing = set(Track.objects.filter(id__in=ids).values_list("id", flat=True))
        return [
            Play(
                **common,
                track_id=int(segment["track_id"]),
                played_s=round(max(0.0, segment["end_s"] - segment["start_s"]), 2),
                start_s=segment["start_s"],
                offset_s=segment.get("offset_s"),
                speed=segment.get("speed"),
                pitch_semitones=segment.get("pitch_semitones"),
            )
            for segment in recognition.segments
            if int(segment["track_id"]) in existing
        ]
    if recognition.track_id is None:
        return []
    return [
        Play(
            **common,
            track_id=recognition.track_id,
            played_s=round(recognition.heard_s or 0.0, 2),
            offset_s=recognition.offset_s,
            speed=recognition.speed,
            pitch_semitones=recognition.pitch_semitones,
        )
    ]


def plays_record(recognition: Recognition, *, new: bool = False) -> list[Play]:
    """Write the plays of a recognition just saved done (replacing any it had; `new`: saved for the
    first time, so it has none to replace); call it inside the transaction that saves the
    recognition."""
    if not new:
        Play.objects.filter(recognition=recognition).delete()
    plays = plays_of(recognition)
    return Play.objects.bulk_create(plays) if plays else []
