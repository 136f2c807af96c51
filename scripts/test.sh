#!/usr/bin/env bash
# Lint (ruff, bandit), type-check (mypy) and the whole test suite against the machine's real
# PostgreSQL, Redis, ffmpeg and Chromium.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/recognition -x).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/bandit -q -c pyproject.toml -r portal accounts catalog recognition --severity-level medium
exec .venv/bin/python -m pytest "$@"
