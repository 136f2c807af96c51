#!/usr/bin/env bash
# Static checks, as `make lint` and `make test` run them: ruff's rules and formatting, the import
# contracts of pyproject.toml (the engine never imports Django; layers), bandit (medium and high
# findings fail). Expects the venv that scripts/bootstrap.sh makes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-logo
.venv/bin/bandit -q -c pyproject.toml -r portal accounts catalog recognition --severity-level medium
