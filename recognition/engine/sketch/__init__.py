"""Frame sketches: 16 bits a frame on how the spectrum's shape moves, to check a proposed alignment.

Landmark hashes (recognition/engine/fingerprint/) find where a clip may come from cheaply, but a clip
of a second or two holds too few of them to prove it: ~20 stored peaks a second, most of them in
the bass where chance coincidences are common, cannot clear a false-match bound that counts every
track and every offset. A sketch stores what the landmarks leave out, the shape of the spectrum in
every frame, in 2 bytes a frame (62.5 bytes a second, ~0.23 MB an hour).

Each frame's 16 bits follow Haitsma and Kalker's (2002) sub-fingerprint on the engine's frame
grid, over 17 log-spaced bands from 300 to 2000 Hz: bit m says whether band m grew louder
against band m+1 since the previous frame. For an unrelated clip each bit agrees by chance half
the time; for the same audio most bits agree even through noise, a codec or a room. A proposed
(track, offset) is checked by counting the bits that differ.

`frames` makes sketches (of a reference as it is decoded, of a clip at every sub-frame shift),
`alignment` compares a clip's with stored ones, and `check` takes the engine's third decision
on them. numpy/scipy only; no Django.
"""

from recognition.engine.sketch.alignment import Alignments, align, log10_chance
from recognition.engine.sketch.check import SKETCH_FRAMES, check_votes
from recognition.engine.sketch.frames import SKETCH, QuerySketch, SketchParams, StreamingSketch, query_sketch, sketch

__all__ = [
    "SKETCH",
    "SKETCH_FRAMES",
    "Alignments",
    "QuerySketch",
    "SketchParams",
    "StreamingSketch",
    "align",
    "check_votes",
    "log10_chance",
    "query_sketch",
    "sketch",
]
