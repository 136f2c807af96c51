#!/usr/bin/env bash
# The benchmark (long: about an hour on 2 cores): Earshot and Dejavu on the same real music.
# Installs what it needs: the Debian soundtracks, and Dejavu in its own venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
if [ "$(id -u)" -eq 0 ]; then
  for p in drascula-music asc-music warzone2100-music hyperrogue-music; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$p" >/dev/null
  done
fi
bench/baseline/setup_dejavu.sh
exec .venv/bin/python -m bench.run "$@"
