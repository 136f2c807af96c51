#!/usr/bin/env bash
# Back up the Earshot database: a pg_dump archive and a JSON manifest of what it must contain.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/backup.sh [FOLDER]

Dump the database at $DATABASE_URL (default postgres://postgres@127.0.0.1:5432/earshot) with
`pg_dump -Fc` into FOLDER (default ./backups) as DBNAME-YYYYMMDDTHHMMSSZ.dump, and write
DBNAME-YYYYMMDDTHHMMSSZ.json next to it: the dump's size and SHA-256, the row counts of
catalog_track and recognition_fingerprint, the pairs in recognition_pairlist, the sum of
hash_count and the number of partial tracks, all read from the very snapshot the dump is taken
from. Prints the dump's path.

scripts/restore.sh restores the dump and checks the result against the manifest.

Exit status: 0 done; 1 error (nothing is left behind); 2 the backup was written but the source
already has partial tracks or orphan fingerprints (RELIABILITY.md G10), so a restore will not verify.
EOF
}

die() { echo "backup: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/catalog_counts.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/catalog_counts.sh"

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  -*) usage >&2; exit 1 ;;
esac
(( $# <= 1 )) || { usage >&2; exit 1; }

folder=${1:-./backups}
db_url=$(libpq_url "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/earshot}")
export PGAPPNAME=earshot-backup

# The dump holds user data and password hashes: readable by its owner only.
umask 077
mkdir -p -- "$folder"
dbname=$(psql "$db_url" -X -q -At -c 'SELECT current_database()') || die "cannot connect to the database"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
base="$folder/${dbname//[^A-Za-z0-9_.-]/_}-$stamp"
dump="$base.dump"
manifest="$base.json"
[[ ! -e $dump && ! -e $manifest ]] || die "$dump already exists"

psql_pid=""
cleanup() {
  local status=$?
  if [[ -n $psql_pid ]] && kill -0 "$psql_pid" 2>/dev/null; then kill "$psql_pid" 2>/dev/null || true; fi
  # Only complete backups keep their final names; a failed run leaves nothing.
  (( status == 0 )) || rm -f -- "$dump.partial" "$manifest.partial"
}
trap cleanup EXIT

# One session holds a REPEATABLE READ transaction open for the whole run: it exports its
# snapshot, pg_dump imports it, and the counts are read in it. Dump and manifest therefore see
# the same committed state even while ingests and deletes go on.
coproc PSQL { psql "$db_url" -X -q -At -v ON_ERROR_STOP=1; }
psql_pid=$PSQL_PID
exec {to_psql}>&"${PSQL[1]}" {from_psql}<&"${PSQL[0]}"

# A long dump must not be cut off by a server-side idle or statement timeout.
printf '%s\n' \
  "SET idle_in_transaction_session_timeout = 0;" \
  "SET statement_timeout = 0;" \
  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;" \
  "SELECT pg_export_snapshot();" >&"$to_psql"
read -r snapshot <&"$from_psql" || die "could not export a snapshot (see psql's message above)"

printf '%s;\n' "SELECT s, (s->'counts'->>'partial_tracks')::bigint = 0
  AND (s->'counts'->>'orphan_fingerprints')::bigint = 0
  FROM (SELECT json_build_object('database', current_database(), 'server_version',
    current_setting('server_version'), 'taken_at', now(), 'counts', ($COUNTS_SQL)) AS s) AS q" \
  >&"$to_psql"
read -r line <&"$from_psql" || die "could not count rows: is this an Earshot database (migrated)?"
state=${line%|*}
consistent=${line##*|}

# Sessions are live credentials and worth nothing after a restore: their rows stay out (G19).
pg_dump --dbname="$db_url" --format=custom --snapshot="$snapshot" --file="$dump.partial" \
  --exclude-table-data=django_session \
  || die "pg_dump failed"

printf '%s\n' "COMMIT;" '\q' >&"$to_psql"
exec {to_psql}>&- {from_psql}<&-
wait "$psql_pid" || die "the snapshot session ended with an error"
psql_pid=""

sha256=$(sha256sum -- "$dump.partial")
bytes=$(wc -c <"$dump.partial")
printf '{\n  "format": "earshot-backup/1",\n  "dump": "%s",\n  "dump_bytes": %d,\n  "dump_sha256": "%s",\n  "snapshot": "%s",\n  "source": %s\n}\n' \
  "${dump##*/}" "$bytes" "${sha256%% *}" "$snapshot" "$state" >"$manifest.partial"
mv -- "$dump.partial" "$dump"
mv -- "$manifest.partial" "$manifest"

echo "$dump"
echo "backup: manifest $manifest: $state" >&2
if [[ $consistent != t ]]; then
  echo "backup: WARNING: the source database breaks the hash_count invariant (see the counts);" \
    "a restore of this backup will not verify" >&2
  exit 2
fi
