"""`manage.py recognize FILE...`: identify audio or video files against the catalog."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from portal.formatting import change
from recognition.engine.audio import AudioError
from recognition.services import recognize_file


class Command(BaseCommand):
    help = (
        "Identify files against the catalog: one JSON object per file (match or null; its speed and "
        "pitch_semitones null unless the audio was changed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
        parser.add_argument(
            "--json", action="store_true", help="JSON lines (the default output is one line of text per file)"
        )
        parser.add_argument("--timeline", action="store_true", help="every catalog track in the file, with time ranges")

    def handle(self, *args, **options):
        failures = 0
        for path in options["files"]:
            try:
                outcome = recognize_file(path, timeline=options["timeline"])
            except AudioError as error:
                failures += 1
                self.stderr.write(f"{path}: {error.message}")
                if options["json"]:
                    self.stdout.write(
                        json.dumps({"file": path, "error": {"code": error.code, "message": error.message}})
                    )
                continue
            record = {
                "file": path,
                "match": outcome.match,
                "elapsed_ms": outcome.elapsed_ms,
                "duration_s": outcome.duration_s,
            }
            if options["timeline"]:
                record["segments"] = outcome.segments
            if options["json"]:
                self.stdout.write(json.dumps(record))
            else:
                self.stdout.write(_describe(record))
        if failures:
            raise CommandError(f"{failures} file(s) could not be read.", returncode=1)


def _describe(record: dict) -> str:
    match = record["match"]
    if match is None:
        head = f"{record['file']}: no match"
    else:
        head = (
            f"{record['file']}: {match['title']} — {match['artist'] or 'unknown artist'} at {match['offset_s']:.1f} s "
            f"(confidence {match['confidence']:.4f}{_changed(match)})"
        )
    lines = [f"{head} [{record['elapsed_ms']:.0f} ms]"]
    for segment in record.get("segments", []):
        lines.append(
            f"  {segment['start_s']:7.1f}-{segment['end_s']:7.1f} s  {segment['title']} "
            f"(from {segment['offset_s']:.1f} s in the track{_changed(segment)})"
        )
    return "\n".join(lines)


def _changed(match: dict) -> str:
    """The match's change of speed or pitch after a comma (", played 2 % fast"), or "" when none."""
    phrase = change(match.get("speed"), match.get("pitch_semitones"))
    return f", {phrase}" if phrase else ""
