#!/usr/bin/env python3
"""Dejavu baseline runner for the Earshot benchmark.

Drives Dejavu (PyPI: PyDejavu-Rollong 0.1.6) through its own fingerprinting, DB insert
and recognition code so that its accuracy, speed and storage can be compared with our
engine on the same files and queries. Run it with the Dejavu venv's interpreter:

    .venvs/dejavu/bin/python bench/baseline/dejavu_runner.py [--dsn DSN] reset|ingest|query|stats

Every subcommand prints JSON lines on stdout; diagnostics go to stderr. See README.md for
where (and why) this deviates from stock Dejavu.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

# fingerprint.py imports matplotlib.pyplot at module level (used only for debug plots);
# make sure that never tries to open a display on a headless benchmark box.
os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import numpy as np
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import make_dsn, parse_dsn
    from psycopg2.extras import DictCursor

    # Dejavu's imports trip deprecation warnings (pydub -> audioop, scipy.ndimage.filters);
    # they are noise for benchmark output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from dejavu import Dejavu
        from dejavu.base_classes.base_recognizer import BaseRecognizer
        from dejavu.config import settings
        from dejavu.database_handler.postgres_database import PostgreSQLDatabase
        from dejavu.logic import decoder
        from dejavu.logic.fingerprint import fingerprint
except ImportError as exc:  # pragma: no cover - environment problem, not a code path
    sys.exit(
        f"dejavu_runner: cannot import Dejavu stack ({exc}); run bench/baseline/setup_dejavu.sh "
        f"and use .venvs/dejavu/bin/python"
    )

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/earshot_dejavu"

# Every file (reference or query) is decoded to this one rate. Dejavu's hashes are built
# from spectrogram bin indices, so references and queries only agree if they share a
# sample rate; and align_matches converts offsets to seconds with DEFAULT_FS regardless of
# the rate actually used, so any other rate would also make offset_s wrong.
SAMPLE_RATE = settings.DEFAULT_FS  # 44100

DB_TYPE = "earshot_postgres"

# Keep the real stdout for our JSON lines and route everything else (including any print()
# inside Dejavu) to stderr, so stdout is always machine-parseable.
_json_out = sys.stdout
sys.stdout = sys.stderr


def emit(obj):
    _json_out.write(json.dumps(obj, default=_json_default) + "\n")
    _json_out.flush()


def _json_default(o):
    # Dejavu hands back numpy scalars (e.g. offsets) and bytes (song names, sha1s).
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, bytes):
        return o.decode("utf-8", "replace")
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def log(msg):
    print(f"dejavu_runner: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# PostgreSQL workarounds
# --------------------------------------------------------------------------------------


class _Cursor:
    """Context manager with the contract Dejavu's SQL code expects from `self.cursor()`:
    yields a cursor, commits on clean exit. Unlike Dejavu's, it reuses one connection."""

    def __init__(self, conn, dictionary):
        self._conn = conn
        self._dictionary = dictionary

    def __enter__(self):
        self._cur = self._conn.cursor(cursor_factory=DictCursor if self._dictionary else None)
        return self._cur

    def __exit__(self, exc_type, exc, tb):
        self._cur.close()
        if exc_type is None:
            self._conn.commit()
        else:
            self._conn.rollback()
        return False


class EarshotPostgreSQLDatabase(PostgreSQLDatabase):
    """Dejavu's PostgreSQLDatabase with its connection handling fixed; all SQL is unchanged.

    Two bugs in dejavu/database_handler/postgres_database.py are worked around here:
    * Cursor.__init__ builds a fresh (per-instance) connection cache each time, so the
      intended pooling never happens: every `with self.cursor()` opens a new PostgreSQL
      connection (a backend fork, several ms) and leaks the old one until GC. That cost
      would dominate per-query latency and say nothing about Dejavu's algorithm.
    * CommonDatabase.get_num_songs/get_num_fingerprints call cursor(buffered=True), a
      MySQL-connector option that Dejavu forwards to psycopg2.connect(), which rejects it.
    """

    def __init__(self, **options):
        super().__init__(**options)
        self._conn = psycopg2.connect(**options)
        self.cursor = self._cursor

    def _cursor(self, dictionary=False, buffered=False):  # buffered: MySQL-only, ignored
        return _Cursor(self._conn, dictionary)

    def close(self):
        self._conn.close()


# Register under a new type name so Dejavu's own get_database() factory instantiates it.
settings.DATABASES[DB_TYPE] = (__name__, EarshotPostgreSQLDatabase.__name__)


def dejavu_config(dsn):
    return {
        "database_type": DB_TYPE,
        # Forwarded verbatim to psycopg2.connect(**options).
        "database": {"dsn": dsn},
        # Fingerprint whole files, as Dejavu's default does.
        "fingerprint_limit": None,
    }


class BaselineDejavu(Dejavu):
    """Dejavu that remembers the raw hash matches of the last lookup.

    align_matches() computes the size of the best offset bin (the alignment vote) and then
    throws it away; we keep the matches only to report that number as a diagnostic next
    to Dejavu's own confidences. Matching itself is untouched.
    """

    last_matches = ()

    def find_matches(self, hashes):
        matches, dedup_hashes, query_time = super().find_matches(hashes)
        self.last_matches = matches
        return matches, dedup_hashes, query_time


class PcmRecognizer(BaseRecognizer):
    """FileRecognizer without its pydub decode step: same BaseRecognizer._recognize
    (fingerprint -> find_matches -> align_matches), fed with our ffmpeg-decoded PCM."""

    def recognize(self, samples):
        self.Fs = SAMPLE_RATE
        results, fingerprint_time, query_time, align_time = self._recognize(samples)
        return {
            settings.RESULTS: results,
            settings.FINGERPRINT_TIME: fingerprint_time,
            settings.QUERY_TIME: query_time,
            settings.ALIGN_TIME: align_time,
        }


# --------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------


class DecodeError(Exception):
    pass


def decode(path):
    """Decode any ffmpeg-readable file to mono int16 PCM at SAMPLE_RATE.

    Stock Dejavu decodes via pydub and fingerprints each channel separately (the union of
    the per-channel hashes is stored). We downmix to mono so references and queries, and
    our engine and Dejavu, all see the same signal.
    """
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        path,
        "-map",
        "0:a:0",
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise DecodeError("ffmpeg not found on PATH") from exc
    if proc.returncode != 0:
        raise DecodeError(proc.stderr.decode("utf-8", "replace").strip() or f"ffmpeg exit {proc.returncode}")
    samples = np.frombuffer(proc.stdout, dtype=np.int16)
    if samples.size == 0:
        raise DecodeError("no audio samples decoded")
    return samples


def read_jsonl(stream, required):
    for lineno, raw in enumerate(stream, 1):
        line = raw.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"dejavu_runner: stdin line {lineno}: invalid JSON: {exc}") from None
        missing = [k for k in required if k not in rec]
        if missing:
            raise SystemExit(f"dejavu_runner: stdin line {lineno}: missing key(s) {missing}")
        yield rec


# --------------------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------------------


def ensure_database(dsn):
    dbname = parse_dsn(dsn).get("dbname")
    if not dbname:
        raise SystemExit("dejavu_runner: --dsn must name a database")
    # CREATE DATABASE cannot run inside a transaction, hence autocommit on the maintenance DB.
    conn = psycopg2.connect(make_dsn(dsn, dbname="postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
                log(f"created database {dbname}")
    finally:
        conn.close()


def cmd_reset(args):
    ensure_database(args.dsn)
    db = EarshotPostgreSQLDatabase(dsn=args.dsn)
    try:
        db.empty()  # Dejavu's own DROP TABLEs followed by its setup() CREATEs
    finally:
        db.close()
    emit({"reset": True, "dsn": args.dsn})
    return 0


def cmd_ingest(args):
    djv = BaselineDejavu(dejavu_config(args.dsn))
    failures = 0
    for rec in read_jsonl(sys.stdin, ("path", "name")):
        path, name = rec["path"], rec["name"]
        t0 = time.perf_counter()
        try:
            # Mirrors Dejavu.fingerprint_file -> get_file_fingerprints (set of hashes) ->
            # insert_song/insert_hashes/set_song_fingerprinted. We can't call
            # fingerprint_file itself: it decodes with pydub and stores the file's basename
            # as the song name, silently ignoring its song_name argument.
            file_hash = decoder.unique_hash(path)
            if file_hash in djv.songhashes_set:
                # Same rule as fingerprint_file: identical bytes are never fingerprinted twice.
                emit(
                    {
                        "name": name,
                        "duration_s": None,
                        "elapsed_s": round(time.perf_counter() - t0, 4),
                        "hashes": 0,
                        "skipped": "already fingerprinted",
                    }
                )
                continue
            samples = decode(path)
            hashes = set(fingerprint(samples, Fs=SAMPLE_RATE))
            sid = djv.db.insert_song(name, file_hash, len(hashes))
            djv.db.insert_hashes(sid, hashes)
            djv.db.set_song_fingerprinted(sid)
            # Dejavu reloads every song from the DB here; a set add is equivalent and keeps
            # ingest O(n) rather than O(n^2) in the number of songs.
            djv.songhashes_set.add(file_hash)
        except (DecodeError, OSError, psycopg2.Error, ValueError) as exc:
            failures += 1
            log(f"ingest failed for {path}: {exc}")
            emit(
                {
                    "name": name,
                    "duration_s": None,
                    "elapsed_s": round(time.perf_counter() - t0, 4),
                    "hashes": None,
                    "error": str(exc),
                }
            )
            continue
        elapsed = time.perf_counter() - t0
        emit(
            {
                "name": name,
                "duration_s": round(samples.size / SAMPLE_RATE, 3),
                "elapsed_s": round(elapsed, 4),
                "hashes": len(hashes),
            }
        )
    djv.db.close()
    return 1 if failures else 0


def cmd_query(args):
    djv = BaselineDejavu(dejavu_config(args.dsn))
    recognizer = PcmRecognizer(djv)
    failures = 0
    for rec in read_jsonl(sys.stdin, ("id", "path")):
        qid, path = rec["id"], rec["path"]
        t0 = time.perf_counter()
        try:
            samples = decode(path)
            result = recognizer.recognize(samples)
        except (DecodeError, psycopg2.Error, ValueError) as exc:
            failures += 1
            log(f"query {qid} failed: {exc}")
            emit(
                {
                    "id": qid,
                    "name": None,
                    "offset_s": None,
                    "confidence": None,
                    "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
                    "error": str(exc),
                }
            )
            continue
        elapsed_ms = (time.perf_counter() - t0) * 1000

        out = {"id": qid, "name": None, "offset_s": None, "confidence": None, "elapsed_ms": round(elapsed_ms, 2)}
        matches = result[settings.RESULTS]
        if matches:
            top = matches[0]  # align_matches orders by the size of the best offset bin
            aligned = sum(
                1 for sid, off in djv.last_matches if sid == top[settings.SONG_ID] and off == top[settings.OFFSET]
            )
            out.update(
                {
                    "name": top[settings.SONG_NAME].decode("utf-8"),
                    "offset_s": float(top[settings.OFFSET_SECS]),
                    # Dejavu's input_confidence; see README for what it does (and doesn't) measure.
                    "confidence": float(top[settings.INPUT_CONFIDENCE]),
                    "dejavu": {
                        settings.INPUT_CONFIDENCE: top[settings.INPUT_CONFIDENCE],
                        settings.FINGERPRINTED_CONFIDENCE: top[settings.FINGERPRINTED_CONFIDENCE],
                        settings.HASHES_MATCHED: top[settings.HASHES_MATCHED],
                        settings.INPUT_HASHES: top[settings.INPUT_HASHES],
                        settings.FINGERPRINTED_HASHES: top[settings.FINGERPRINTED_HASHES],
                        # Not a Dejavu output: the vote count align_matches ranked by.
                        "aligned_hashes": aligned,
                        "runner_up": (matches[1][settings.SONG_NAME].decode("utf-8") if len(matches) > 1 else None),
                    },
                }
            )
        emit(out)
    djv.db.close()
    return 1 if failures else 0


def cmd_stats(args):
    db = EarshotPostgreSQLDatabase(dsn=args.dsn)
    try:
        rows = db.get_num_fingerprints()
        songs = db.get_num_songs()  # counts fully fingerprinted songs, as Dejavu does
        with db.cursor() as cur:
            # pg_total_relation_size = heap + indexes + TOAST for each of Dejavu's tables.
            cur.execute(
                "SELECT pg_total_relation_size(%s::regclass) + pg_total_relation_size(%s::regclass)",
                (f'"{settings.FINGERPRINTS_TABLENAME}"', f'"{settings.SONGS_TABLENAME}"'),
            )
            nbytes = cur.fetchone()[0]
    finally:
        db.close()
    emit({"rows": rows, "songs": songs, "bytes": nbytes})
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dsn", default=DEFAULT_DSN, help=f"PostgreSQL DSN for Dejavu's tables (default: {DEFAULT_DSN})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("reset", help="create the database if needed and recreate Dejavu's tables empty")
    sub.add_parser("ingest", help='stdin JSON lines {"path", "name"}: fingerprint and store')
    sub.add_parser("query", help='stdin JSON lines {"id", "path"}: recognise')
    sub.add_parser("stats", help="fingerprint rows, songs, and on-disk bytes of Dejavu's tables")
    args = parser.parse_args(argv)
    handler = {"reset": cmd_reset, "ingest": cmd_ingest, "query": cmd_query, "stats": cmd_stats}
    try:
        return handler[args.command](args)
    except psycopg2.OperationalError as exc:
        log(f"database error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
