"""Watch a stream that never ends (a radio, a venue's microphone) for plays of catalog tracks.

A StreamMonitor fingerprints the stream as it arrives and, every second of it, decides on a
rolling window of its recent votes which tracks are playing; each continuous play is one
Sighting, announced by a MonitorEvent when it starts, while it goes on and when it ends.

One module per job: `monitor` (the StreamMonitor and its settings), `evidence` (which tracks a
window of votes holds for sure), `events` (what it reports) and `restarts` (the fingerprinter
restarted as the stream runs on). No Django: the monitor holds an identify.Identifier, which
holds the lookups.
"""

from recognition.engine.monitoring.events import MonitorEvent, Sighting
from recognition.engine.monitoring.monitor import MONITOR_LOOKS, StreamMonitor

__all__ = ["MONITOR_LOOKS", "MonitorEvent", "Sighting", "StreamMonitor"]
