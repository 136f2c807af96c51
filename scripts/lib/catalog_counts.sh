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
# A track's hashes are its triplet rows (recognition_fingerprint) plus the pairs packed in its
# list (recognition_pairlist, 8 bytes a pair): together they must equal its hash_count. The
# same count as recognition.store.PARTIAL_TRACKS_SQL, spelled here for psql alone. The frames
# sketched (recognition_framesketch, 2 bytes a frame) must come back too.
COUNTS_SQL="
WITH per_track AS (
  SELECT track_id, sum(n) AS n FROM (
    SELECT track_id, count(*) AS n FROM recognition_fingerprint GROUP BY track_id
    UNION ALL
    SELECT track_id, octet_length(packed) / 8 FROM recognition_pairlist
  ) AS kinds GROUP BY track_id
)
SELECT json_build_object(
  'catalog_track', (SELECT count(*) FROM catalog_track),
  'recognition_fingerprint', (SELECT count(*) FROM recognition_fingerprint),
  'packed_pairs', (SELECT coalesce(sum(octet_length(packed) / 8), 0) FROM recognition_pairlist),
  'sketched_frames', (SELECT coalesce(sum(octet_length(frames) / 2), 0) FROM recognition_framesketch),
  'hash_count_sum', (SELECT coalesce(sum(hash_count), 0) FROM catalog_track),
  'partial_tracks', (SELECT count(*) FROM catalog_track t LEFT JOIN per_track p ON p.track_id = t.id
                     WHERE t.hash_count <> coalesce(p.n, 0)),
  'orphan_fingerprints', (SELECT coalesce(sum(n), 0) FROM per_track p
                          WHERE NOT EXISTS (SELECT FROM catalog_track t WHERE t.id = p.track_id))
)"
