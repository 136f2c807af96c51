#!/usr/bin/env bash
# The benchmark (long: about an hour on 2 cores): Earshot and Dejavu on the same real music.
# Installs what it needs: the Debian soundtracks, and Dejavu in its own venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
scripts/soundtracks.sh
bench/baseline/setup_dejavu.sh
exec .venv/bin/python -m bench.run "$@"
