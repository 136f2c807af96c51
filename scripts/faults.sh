#!/usr/bin/env bash
# Ingest fault trials (RELIABILITY.md G10) on a scratch PostgreSQL cluster of their own, so that
# stopping PostgreSQL mid-ingest does not stop the machine's main cluster. Needs root (Debian's
# pg_createcluster); without it, falls back to the main cluster: then run it alone.
# Extra arguments go to bench.faults (e.g. --trials 50).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
name=earshot_faults port="${FAULTS_PG_PORT:-5433}"
if [ "$(id -u)" -eq 0 ] && command -v pg_createcluster >/dev/null 2>&1; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$name"; then
    pg_createcluster "$version" "$name" -p "$port" -- --auth=trust >/dev/null
  fi
  port="$(pg_lsclusters -h | awk -v c="$name" -v v="$version" '$1==v && $2==c {print $3}')"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start 2>/dev/null || true
  trap 'pg_ctlcluster --skip-systemctl-redirect "$version" "$name" stop 2>/dev/null || true' EXIT
  .venv/bin/python -m bench.faults --cluster "$version/$name" --port "$port" "$@"
else
  echo "[faults] not root: faulting the main cluster; run this alone" >&2
  .venv/bin/python -m bench.faults "$@"
fi
