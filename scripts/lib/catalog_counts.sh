# Sourced by scripts/backup.sh and scripts/restore.sh: what both need to agree on.
# The caller defines die().

# django-environ accepts a few spellings of a PostgreSQL URL that libpq does not.
libpq_url() {
  case $1 in
    postgres://* | postgresql://*) printf '%s' "$1" ;;
    pgsql://* | psql://* | postgis://*) printf 'postgresql://%s' "${1#*://}" ;;
    *) die "DATABASE_URL must be a postgres:// URL" ;;
  esac
}

# The backup's manifest holds this on the source's snapshot; the restore checks it on the copy.
COUNTS_SQL="
WITH per_track AS (
  SELECT track_id, count(*) AS n FROM recognition_fingerprint GROUP BY track_id
)
SELECT json_build_object(
  'catalog_track', (SELECT count(*) FROM catalog_track),
  'recognition_fingerprint', (SELECT coalesce(sum(n), 0) FROM per_track),
  'hash_count_sum', (SELECT coalesce(sum(hash_count), 0) FROM catalog_track),
  'partial_tracks', (SELECT count(*) FROM catalog_track t LEFT JOIN per_track p ON p.track_id = t.id
                     WHERE t.hash_count <> coalesce(p.n, 0)),
  'orphan_fingerprints', (SELECT coalesce(sum(n), 0) FROM per_track p
                          WHERE NOT EXISTS (SELECT FROM catalog_track t WHERE t.id = p.track_id))
)"
