#!/usr/bin/env bash
# Create (or refresh) the isolated virtualenv used by the Dejavu baseline runner.
#
#   bench/baseline/setup_dejavu.sh            # idempotent; no-op when already up to date
#   DEJAVU_PYTHON=/path/to/python3.x ...      # force a specific interpreter
#   DEJAVU_VENV=/some/dir ...                 # put the venv elsewhere
#
# The venv lives at <repo root>/.venvs/dejavu, apart from the project's own environment,
# because Dejavu needs an older stack (numpy < 2.3) than the engine it is compared with.
set -euo pipefail

die() { echo "setup_dejavu: error: $*" >&2; exit 1; }
log() { echo "setup_dejavu: $*" >&2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Fall back to the script's location (bench/baseline -> repo root) when git isn't usable,
# e.g. in an exported tarball.
repo_root="$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/../.." && pwd))"
venv="${DEJAVU_VENV:-$repo_root/.venvs/dejavu}"
req="$here/requirements-dejavu.txt"
stamp="$venv/.earshot-setup-stamp"

[[ -f "$req" ]] || die "requirements file not found: $req"

# usable PY MINOR: the interpreter really runs (pyenv shims exist for versions that aren't
# selected and fail at run time), is 3.MINOR, and can build a venv with pip in it.
usable() {
    "$1" -c "import sys, venv, ensurepip; sys.exit(0 if sys.version_info[:2] == (3, $2) else 1)" \
        >/dev/null 2>&1
}

# Prefer 3.12 (verified with Dejavu 0.1.6 + the pinned stack), then 3.11. Not 3.13+:
# pydub imports the stdlib `audioop` module, which 3.13 removed.
find_python() {
    local minor cand
    for minor in 12 11; do
        local -a cands=()
        if cand="$(command -v "python3.$minor" 2>/dev/null)"; then cands+=("$cand"); fi
        # pyenv installs, newest patch release first
        while IFS= read -r cand; do
            cands+=("$cand")
        done < <(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3."$minor" \
                    2>/dev/null | sort -rV)
        cands+=("/usr/local/bin/python3.$minor" "/usr/bin/python3.$minor")
        for cand in "${cands[@]}"; do
            if [[ -x "$cand" ]] && usable "$cand" "$minor"; then
                echo "$cand"
                return 0
            fi
        done
    done
    return 1
}

if [[ -n "${DEJAVU_PYTHON:-}" ]]; then
    "$DEJAVU_PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 \
        || die "DEJAVU_PYTHON=$DEJAVU_PYTHON is not a working interpreter with venv/ensurepip"
    python="$DEJAVU_PYTHON"
else
    python="$(find_python)" || die "no usable Python 3.12 or 3.11 found (set DEJAVU_PYTHON=...)"
fi
py_version="$("$python" -c 'import sys; print(sys.version.split()[0])')"

# The stamp ties the venv to the exact requirements, interpreter, and this script, so any
# change to one of them triggers a clean rebuild instead of an in-place upgrade that could
# leave stale packages behind.
want_stamp="$( { cat "$req"; echo "python=$("$python" -c 'import sys; print(sys.executable)') $py_version"; cat "${BASH_SOURCE[0]}"; } \
               | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]] \
   && "$venv/bin/python" -c 'import dejavu' >/dev/null 2>&1; then
    log "up to date: $venv (Python $py_version)"
    exit 0
fi

if [[ -e "$venv" ]]; then
    # Only wipe something that is recognisably a venv, never an arbitrary directory.
    [[ -f "$venv/pyvenv.cfg" ]] || die "$venv exists but is not a virtualenv; refusing to delete it"
    log "rebuilding stale venv at $venv"
    rm -rf -- "$venv"
fi

log "creating venv at $venv with $python (Python $py_version)"
mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv" || die "venv creation failed"

# --no-deps: the requirements file is the complete, pinned closure. Letting pip resolve
# PyDejavu-Rollong's declared deps would drag in PyAudio (needs portaudio headers),
# mysql-connector-python and a source build of psycopg2, none of which the runner uses.
log "installing pinned requirements"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-deps -r "$req" \
    || die "pip install failed (see output above)"

# Smoke test the exact modules the runner relies on, so a broken install fails here
# rather than halfway through a benchmark.
"$venv/bin/python" -W ignore -c '
import numpy, scipy, matplotlib, pydub, psycopg2
from dejavu import Dejavu
from dejavu.logic.fingerprint import fingerprint
from dejavu.database_handler.postgres_database import PostgreSQLDatabase
from dejavu.base_classes.base_recognizer import BaseRecognizer
assert tuple(int(x) for x in numpy.__version__.split(".")[:2]) < (2, 3), numpy.__version__
' || die "installed venv failed the import smoke test"

echo "$want_stamp" > "$stamp"
log "ready: $venv/bin/python (Python $py_version)"
