"""Create the PostgreSQL database named by DATABASE_URL when it does not exist yet.

Runs before Django is importable in a fresh clone, so it speaks to PostgreSQL directly.
"""

import os
import sys
from urllib.parse import unquote, urlparse

import psycopg2
from psycopg2 import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/earshot"


def main() -> int:
    url = urlparse(os.environ.get("DATABASE_URL", DEFAULT_URL))
    name = unquote(url.path.lstrip("/"))
    params = {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 5432,
        "user": unquote(url.username or "postgres"),
        "password": unquote(url.password or "") or None,
        "dbname": "postgres",
    }
    try:
        connection = psycopg2.connect(connect_timeout=5, **params)
    except psycopg2.OperationalError as error:
        print(f"[bootstrap] cannot reach PostgreSQL at {params['host']}:{params['port']}: {error}", file=sys.stderr)
        return 1
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"[bootstrap] created database {name}", file=sys.stderr)
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
