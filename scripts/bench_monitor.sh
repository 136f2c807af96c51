#!/usr/bin/env bash
# Monitors on live loopback streams (`make bench-monitor`), or under faults with `faults` as the first
# argument (`make faults-monitor`), on a scratch PostgreSQL cluster of their own: the faults restart
# it, and the benchmark counts its whole CPU as the monitors'. Needs root (Debian's pg_createcluster);
# without it, uses the main cluster, skips the PostgreSQL restart and samples the workers' backends.
# Other arguments go to bench.monitor (e.g. --quick).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
scripts/soundtracks.sh
name=earshot_monitor port="${MONITOR_PG_PORT:-5434}"
if [ "$(id -u)" -eq 0 ] && command -v pg_createcluster >/dev/null 2>&1; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  if ! pg_lsclusters -h | awk '{print $1"/"$2}' | grep -qx "$version/$name"; then
    pg_createcluster "$version" "$name" -p "$port" -- --auth=trust >/dev/null
  fi
  port="$(pg_lsclusters -h | awk -v c="$name" -v v="$version" '$1==v && $2==c {print $3}')"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start 2>/dev/null || true
  trap 'pg_ctlcluster --skip-systemctl-redirect "$version" "$name" stop 2>/dev/null || true' EXIT
  .venv/bin/python -m bench.monitor "$@" --cluster "$version/$name" --port "$port"
else
  echo "[bench-monitor] not root: on the main cluster, without the PostgreSQL restart" >&2
  .venv/bin/python -m bench.monitor "$@"
fi
