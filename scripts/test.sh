#!/usr/bin/env bash
# Lint (scripts/lint.sh), type-check (mypy) and the whole test suite against the machine's real
# PostgreSQL, Redis, ffmpeg and Chromium.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/recognition -x).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
scripts/lint.sh
# django-stubs imports the settings, which need a key outside DEBUG; nothing is signed here.
DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-typecheck-only}" .venv/bin/mypy
# Every core: xdist workers, each with its own test database and Redis database (tests/workers.py);
# EARSHOT_TEST_WORKERS=0 runs in one process. Work stealing evens out the minute-long tests.
exec .venv/bin/python -m pytest -p tests.workers -n "${EARSHOT_TEST_WORKERS:-2}" --dist worksteal "$@"
