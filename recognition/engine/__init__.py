"""The recognition engine: audio in, the catalog track it comes from out. numpy, scipy and a
sandboxed ffmpeg; no Django, so benchmarks, workers and fuzzers use it alone.

A reference is decoded (`audio`), fingerprinted into landmark hashes (`fingerprint`) and
sketched frame by frame (`sketch`); a hash index stores them (`HashIndex`: the portal's
PostgreSQL tables in recognition.store, or a `MemoryIndex`). A clip is identified against the
index (`Identifier`): its hashes vote for (track, offset) alignments (`matching`), a calibrated
decision names the track only when chance could not explain the votes, and clips that fail as
heard are retried against noise and speed changes. A `ListeningSession` does the same for audio
that arrives in pieces, `Identifier.timeline` for a long recording, and a `StreamMonitor`
logs each play of a catalog track in a stream that never ends.

The names below are the engine's surface; the modules hold the rest (parameters of each step,
the arrays helpers, the decisions taken one by one for studies).
"""

from recognition.engine.audio import (
    AudioError,
    DecodeLimits,
    MediaInfo,
    decode,
    decode_chunks,
    probe,
    probe_usable,
)
from recognition.engine.fingerprint import QUERY, REFERENCE, FingerprintParams
from recognition.engine.identify import Identifier, Timeline
from recognition.engine.index import HashIndex, LookupRows
from recognition.engine.listening import ListeningSession
from recognition.engine.matching import Change, Match, Segment, reported_change
from recognition.engine.memory import MemoryIndex
from recognition.engine.monitoring import MonitorEvent, Sighting, StreamMonitor

__all__ = [
    "QUERY",
    "REFERENCE",
    "AudioError",
    "Change",
    "DecodeLimits",
    "FingerprintParams",
    "HashIndex",
    "Identifier",
    "ListeningSession",
    "LookupRows",
    "Match",
    "MediaInfo",
    "MemoryIndex",
    "MonitorEvent",
    "Segment",
    "Sighting",
    "StreamMonitor",
    "Timeline",
    "decode",
    "decode_chunks",
    "probe",
    "probe_usable",
    "reported_change",
]
