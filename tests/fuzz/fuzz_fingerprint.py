"""Fuzz target: PCM -> fingerprint and sketch; streamed in arbitrary chunks each must equal the whole clip's."""

import sys

import atheris
import numpy as np
from instrumented import PACKAGES

with atheris.instrument_imports(include=PACKAGES):
    from recognition.engine import fingerprint as fp
    from recognition.engine import sketch as sk


def test_one(data: bytes) -> None:
    if len(data) < 3:
        return
    params = fp.QUERY if data[0] & 1 else fp.REFERENCE
    chunk = 1 + int.from_bytes(data[1:3], "little")  # 1..65536 samples
    samples = np.frombuffer(data[3 : 3 + (len(data) - 3) // 2 * 2], "<i2").astype(np.float32) / 32768
    whole = fp.fingerprint(samples, params)
    stream = fp.StreamingFingerprinter(params)
    parts = [stream.push(samples[i : i + chunk]) for i in range(0, samples.size, chunk)] + [stream.finish()]
    streamed = fp.merge_fingerprints(parts, stream.n_frames)
    if not (np.array_equal(whole.hashes, streamed.hashes) and np.allclose(whole.offsets, streamed.offsets)):
        raise AssertionError(f"streamed != whole for {samples.size} samples in chunks of {chunk}")
    sketcher = sk.StreamingSketch()
    streamed_sketch = [sketcher.push(samples[i : i + chunk]) for i in range(0, samples.size, chunk)]
    if not np.array_equal(np.concatenate([np.empty(0, np.uint16), *streamed_sketch]), sk.sketch(samples)):
        raise AssertionError(f"streamed sketch != whole for {samples.size} samples in chunks of {chunk}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
