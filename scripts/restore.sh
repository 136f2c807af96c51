#!/usr/bin/env bash
# Restore an Earshot backup made by scripts/backup.sh, then prove it is whole.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/restore.sh --create-db NAME [--manifest FILE] DUMP
       scripts/restore.sh --yes [--manifest FILE] DUMP

--create-db NAME  create the database NAME on the server of $DATABASE_URL and restore into it
                  (it must not exist yet).
--yes             restore into the existing database at $DATABASE_URL (default
                  postgres://postgres@127.0.0.1:5432/earshot), replacing what the dump holds
                  (pg_restore --clean --if-exists --no-owner). Stop web and worker first: each
                  process keeps a filter of the stored triplets, read again when it restarts.
--manifest FILE   the manifest written by backup.sh (default: DUMP with .json instead of .dump).

Before restoring: the dump's SHA-256 must match the manifest. The restore runs in one
transaction, so a failed restore leaves the target as it was. After it: the row counts of
catalog_track and recognition_fingerprint, the packed pairs and the sum of hash_count must equal
the manifest's, and no track may have a hash_count different from its triplet rows plus pairs.

Exit status: 0 restored and verified; 1 error, nothing restored; 2 restored but verification failed.
EOF
}

die() { echo "restore: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/catalog_counts.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/catalog_counts.sh"

# The same URL with another database name (the path), keeping credentials and query options.
url_with_db() {
  [[ $1 =~ ^([a-z]+://[^/?]*)(/[^?]*)?(\?.*)?$ ]] || die "cannot parse DATABASE_URL"
  printf '%s/%s%s' "${BASH_REMATCH[1]}" "$2" "${BASH_REMATCH[3]}"
}

create_db="" manifest="" yes=false dump=""
while (( $# )); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --create-db) (( $# >= 2 )) || die "--create-db needs a NAME"; create_db=$2; shift 2 ;;
    --manifest) (( $# >= 2 )) || die "--manifest needs a FILE"; manifest=$2; shift 2 ;;
    --yes) yes=true; shift ;;
    -*) usage >&2; exit 1 ;;
    *) [[ -z $dump ]] || { usage >&2; exit 1; }; dump=$1; shift ;;
  esac
done
[[ -n $dump ]] || { usage >&2; exit 1; }
# Replacing a live database is never a default: a forgotten flag must not wipe the catalog.
[[ -n $create_db || $yes == true ]] || die "give --create-db NAME, or --yes to replace the database at DATABASE_URL"
[[ -z $create_db || $yes == false ]] || die "--create-db and --yes exclude each other"
# A plain identifier keeps the URL and the CREATE DATABASE free of quoting surprises.
[[ -z $create_db || $create_db =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] \
  || die "--create-db NAME must be letters, digits and underscores"
[[ -f $dump ]] || die "no such dump: $dump"
manifest=${manifest:-${dump%.dump}.json}
[[ -f $manifest ]] || die "no manifest next to the dump ($manifest); give --manifest FILE"

db_url=$(libpq_url "${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/earshot}")
export PGAPPNAME=earshot-restore
if [[ -n $create_db ]]; then
  server_url=$(url_with_db "$db_url" postgres)
  target_url=$(url_with_db "$db_url" "$create_db")
else
  server_url=$db_url
  target_url=$db_url
fi

# psql reads the manifest, so the script needs nothing beyond the PostgreSQL clients.
fields=$(psql "$server_url" -X -q -At -v ON_ERROR_STOP=1 -v manifest="$(<"$manifest")" <<'SQL'
SELECT m->>'format', m->>'dump_sha256', m->'source'->'counts'
FROM (SELECT (:'manifest')::jsonb AS m) AS q;
SQL
) || die "cannot read the manifest $manifest (or cannot connect to the server)"
IFS='|' read -r format expected_sha expected_counts <<<"$fields"
[[ $format == earshot-backup/1 ]] || die "$manifest is not an Earshot backup manifest"

# Check the file before anything is dropped: a truncated or swapped dump stops here.
actual_sha=$(sha256sum -- "$dump")
[[ ${actual_sha%% *} == "$expected_sha" ]] || die "$dump does not match its manifest (SHA-256 differs)"
pg_restore --list -- "$dump" >/dev/null || die "$dump is not a readable pg_dump archive"

options=(--no-owner --no-privileges --single-transaction)
if [[ -n $create_db ]]; then
  psql "$server_url" -X -q -v ON_ERROR_STOP=1 -v db="$create_db" <<<'CREATE DATABASE :"db" TEMPLATE template0;' \
    || die "could not create the database $create_db"
  echo "restore: created database $create_db" >&2
else
  options+=(--clean --if-exists)
fi
# --no-privileges as well as --no-owner: GRANTs to roles the target server lacks would abort the
# single transaction.
pg_restore "${options[@]}" --dbname="$target_url" -- "$dump" \
  || die "pg_restore failed; the target is unchanged${create_db:+ (the empty database $create_db remains)}"
# A restored database has no planner statistics; the hash lookup plans badly without them.
psql "$target_url" -X -q -v ON_ERROR_STOP=1 -c 'ANALYZE' || die "ANALYZE failed"

actual_counts=$(psql "$target_url" -X -q -At -v ON_ERROR_STOP=1 -c "$COUNTS_SQL") \
  || die "could not count the restored rows"
report=$(psql "$target_url" -X -q -At -v ON_ERROR_STOP=1 \
  -v expected="$expected_counts" -v actual="$actual_counts" <<'SQL'
SELECT key, coalesce(e.value::text, 'missing'), coalesce(a.value::text, 'missing'),
       CASE WHEN e.value IS DISTINCT FROM a.value THEN 'MISMATCH'
            WHEN key IN ('partial_tracks', 'orphan_fingerprints') AND a.value <> '0' THEN 'NOT ZERO'
            ELSE 'ok' END
FROM jsonb_each((:'expected')::jsonb) AS e FULL JOIN jsonb_each((:'actual')::jsonb) AS a USING (key)
ORDER BY key;
SQL
) || die "could not compare the counts"

failed=0
printf '%-22s %14s %14s  %s\n' check manifest restored result >&2
while IFS='|' read -r key expected actual result; do
  printf '%-22s %14s %14s  %s\n' "$key" "$expected" "$actual" "$result" >&2
  [[ $result == ok ]] || failed=1
done <<<"$report"

target_name=${create_db:-the database at DATABASE_URL}
if (( failed )); then
  echo "restore: VERIFICATION FAILED: $target_name does not hold what the backup promised" \
    "(see the rows above); do not put it into service" >&2
  exit 2
fi
echo "restore: $dump restored into $target_name and verified" >&2
