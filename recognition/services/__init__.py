"""Recognition services: every ingest and every recognition in Earshot goes through here.

The admin, the ingest and recognize commands, the record page, uploads and the API all call
these functions; they decode with recognition.engine.audio, fingerprint with the engine and read and
write hashes with recognition.store.
"""

from recognition.services.common import decode_limits, file_sha256, identifier, local_copy
from recognition.services.ingest import (
    DuplicateRecording,
    IngestOutcome,
    ReferenceAudio,
    metadata_from_tags,
    reference_fingerprints,
    reference_from_upload,
    track_create,
    track_ingest,
    track_ingest_upload,
    track_replace_reference,
    tracks_ingest,
    tracks_sketch_missing,
)
from recognition.services.recognize import (
    CLIP_SECONDS,
    RecognitionOutcome,
    live_recognition_save,
    match_card,
    match_details,
    recognize_file,
    recognize_samples,
    segment_details,
)

__all__ = [
    "CLIP_SECONDS",
    "DuplicateRecording",
    "IngestOutcome",
    "RecognitionOutcome",
    "ReferenceAudio",
    "decode_limits",
    "file_sha256",
    "identifier",
    "live_recognition_save",
    "local_copy",
    "match_card",
    "match_details",
    "metadata_from_tags",
    "recognize_file",
    "recognize_samples",
    "reference_fingerprints",
    "reference_from_upload",
    "segment_details",
    "track_create",
    "track_ingest",
    "track_ingest_upload",
    "track_replace_reference",
    "tracks_ingest",
    "tracks_sketch_missing",
]
