"""Earshot's benchmarks, run as modules from the repository root: `.venv/bin/python -m bench.run`.

What users run: `run` (accuracy, speed and storage beside Dejavu, on `corpus`, `queries`,
`distortions`, judged with `versions`), `live` (time to answer, websocket and API load),
`growth` (latency as the catalog grows), `faults` (ingest under faults), `abuse` (availability
under hostile traffic) and `report` (docs/benchmarks.md and the README's blocks from the results).
`studies/` holds the tools still used for tuning. `baseline/` runs Dejavu in its own venv.
"""

import os
import secrets
from pathlib import Path

# Benchmarks run Django with DEBUG off over plain HTTP on loopback: TLS off explicitly, and a key
# for this run when the shell has none (settings refuse to start without one outside DEBUG).
# Subprocesses inherit both through os.environ.
os.environ.setdefault("DJANGO_HTTPS", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + secrets.token_urlsafe(48))

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"  # the corpus manifest, decoded audio, query files and raw answers (not committed)
RESULTS = BENCH / "results"  # the latest result of each benchmark (committed; git keeps the history)
STUDY_RESULTS = RESULTS / "studies"  # what tuning studies and A/B runs printed, cited by docs/decisions.md
