#!/usr/bin/env bash
# Prepare a fresh machine of the "python-svc" kind for Earshot: Python 3.12 venv with pinned
# packages, system packages from Debian (ffmpeg and the demo catalog's free music always; Chromium
# when asked), and the PostgreSQL database. Idempotent: a second run only checks.
#
# usage: scripts/bootstrap.sh run|test
set -euo pipefail
profile="${1:-run}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[bootstrap] %s\033[0m\n' "$*" >&2; exit 1; }

find_python() {
  # pyenv shims answer "command not found" when 3.12 is installed but not selected, so every
  # candidate is run, not just looked up.
  local candidates=("${PYTHON:-}" python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.12*/bin/python3.12)
  fi
  candidates+=("$HOME"/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12)
  local c
  for c in "${candidates[@]}"; do
    [ -n "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

apt_install() {
  # Installs Debian packages that are missing; needs root (the CI machine runs as root).
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing Debian packages: ${missing[*]} (install them with: sudo apt-get install ${missing[*]})"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
    || die "apt-get could not install ${missing[*]}"
}

python="$(find_python)" || die "Python 3.12 not found. Install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12."

req_hash() { cat "$@" | sha256sum | cut -c1-16; }
run_stamp=".venv/.installed-run-$(req_hash requirements.txt)"
test_stamp=".venv/.installed-test-$(req_hash requirements.txt requirements-dev.txt)"
if [ "$profile" = test ]; then requirements=requirements-dev.txt; wanted="$test_stamp"
else requirements=requirements.txt; wanted="$run_stamp"; fi

if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
  say "existing .venv is not Python 3.12: recreating it"
  rm -rf .venv
fi
# The test set is a superset of the run set, so either stamp satisfies "run".
if [ ! -f "$wanted" ] && ! { [ "$profile" = run ] && [ -f "$test_stamp" ]; }; then
  [ -x .venv/bin/python ] || { say "creating .venv with $python"; "$python" -m venv .venv; }
  say "installing $requirements into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements" \
    2> >(grep -v "^WARNING: Location" >&2) || die "pip install -r $requirements failed"
  rm -f .venv/.installed-*
  touch "$wanted"
fi

# ffmpeg decodes every file, inside bubblewrap's sandbox; the free Drascula (36 MB) and ASC (10 MB)
# soundtracks are the demo catalog (catalog/demo.py), Drascula's also the tests' real music.
apt_install ffmpeg bubblewrap drascula-music asc-music
if [ "$profile" = test ]; then
  apt_install chromium  # drives the record page end to end
fi

.venv/bin/python scripts/ensure_database.py
