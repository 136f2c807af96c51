"""What a monitor reports: plays of catalog tracks (Sighting) as they start, go on and end."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MonitorEvent", "Sighting"]


@dataclass(frozen=True)
class Sighting:
    """One continuous play of a track in the stream, as the monitor sees it: stream seconds
    (samples since this monitor's first sample, over the rate) and the track's own seconds."""

    track_id: int
    start_s: float
    end_s: float
    offset_start_s: float
    offset_end_s: float
    confidence: float
    speed: float | None


@dataclass(frozen=True)
class MonitorEvent:
    """A play "started", "extended" (it goes on, up to a later end) or "ended". The events of one
    play carry the same track_id, start_s and offset_start_s."""

    kind: str
    sighting: Sighting
