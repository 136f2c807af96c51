"""Plumbing every recognition service shares: decode limits, the engine on the hash table, files."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File

from recognition.engine import DecodeLimits, Identifier
from recognition.store import PostgresIndex

__all__ = ["decode_limits", "file_sha256", "identifier", "local_copy"]


def decode_limits() -> DecodeLimits:
    return DecodeLimits(timeout_s=settings.EARSHOT_DECODE_TIMEOUT_S, cpu_s=int(settings.EARSHOT_DECODE_TIMEOUT_S))


def identifier() -> Identifier:
    """The engine on the PostgreSQL hash tables, its wide retries (speed, pitch and tempo changes)
    on unless EARSHOT_WIDE_RETRIES turns them off, and the denser look at clips and long inputs'
    windows (music under a voice-over) unless EARSHOT_DENSE_LOOK does; a clip's later lookups
    asked ahead on another connection unless EARSHOT_ASK_AHEAD turns that off."""
    options: dict = {}
    if not settings.EARSHOT_WIDE_RETRIES:
        options["wide_variants"] = ()
    if not settings.EARSHOT_DENSE_LOOK:
        options["dense_params"] = options["window_dense_params"] = None
    return Identifier(PostgresIndex(ask_ahead=settings.EARSHOT_ASK_AHEAD), **options)


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def local_copy(upload: File) -> Iterator[Path]:
    """Yield a path on local disk holding an uploaded or stored file (ffmpeg reads files, not
    streams)."""
    if hasattr(upload, "temporary_file_path"):
        yield Path(upload.temporary_file_path())
        return
    suffix = Path(upload.name or "upload").suffix[:10]
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        upload.seek(0)
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name)
