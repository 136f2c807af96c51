"""Storage helpers: random keys for stored media, and the static files' manifest storage."""

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath

from django.apps import apps
from django.core.files.storage import Storage, default_storage
from django.db import models
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from whitenoise.storage import CompressedManifestStaticFilesStorage

__all__ = ["RandomKey", "StaticStorage", "SweepResult", "safe_extension", "storage_sweep"]

# A suffix kept on a stored key: a short run of letters and digits, so that the key says the
# media type to an operator (and to ffmpeg's probing) but carries nothing a user chose.
_EXTENSION = re.compile(r"\.[a-z0-9]{1,8}")


def safe_extension(filename: str) -> str:
    """Return the file name's extension in lower case with its dot, or "" if it is not plain."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return suffix if _EXTENSION.fullmatch(suffix) else ""


@deconstructible
class RandomKey:
    """An `upload_to` that files media under `<prefix>/<year>/<month>/<uuid4 hex><extension>`.

    Object keys never carry the uploader's file name (a name can hold personal data, and a
    guessable key is one step from a readable object); where the name matters it is kept in a
    column (Recognition.original_name). `prefix` is also what `manage.py storage_sweep` lists.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix.strip("/")

    def __call__(self, instance, filename: str) -> str:
        month = timezone.now().strftime("%Y/%m")
        return f"{self.prefix}/{month}/{uuid.uuid4().hex}{safe_extension(filename)}"

    def __eq__(self, other) -> bool:
        return isinstance(other, RandomKey) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


@dataclass
class SweepResult:
    """What one sweep found: objects listed, kept (referenced or too young), and deleted."""

    listed: int = 0
    referenced: int = 0
    young: int = 0
    deleted: list[str] = field(default_factory=list)


def _key_fields() -> dict[str, list[tuple[type[models.Model], str]]]:
    """Map each RandomKey prefix to the (model, file field) pairs that file objects under it."""
    fields: dict[str, list[tuple[type[models.Model], str]]] = {}
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, models.FileField) and isinstance(model_field.upload_to, RandomKey):
                fields.setdefault(model_field.upload_to.prefix, []).append((model, model_field.name))
    return fields


def _folders(storage: Storage, folder: str) -> Iterator[tuple[str, list[str]]]:
    """Yield (folder, file names) for `folder` and every folder below it, depth first."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # nothing stored under the prefix yet (S3 lists nothing instead)
        return
    yield folder, files
    for child in sorted(folders):
        yield from _folders(storage, f"{folder}/{child}")


def storage_sweep(
    *,
    grace: timedelta,
    dry_run: bool = False,
    storage: Storage | None = None,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> SweepResult:
    """Delete stored objects under the RandomKey prefixes that no row names and older than `grace`.

    A crash between storing a file and committing its row (or between clearing a column and
    deleting the file) leaves an object nothing refers to. The grace period keeps an upload
    that is being written, or whose row is not committed yet, out of reach. Only the Storage
    API is used (listdir, get_modified_time, delete), so the local disk and S3 behave alike;
    memory holds one folder's listing and the names rows give for it (a month of one prefix).
    """
    storage = storage or default_storage
    cutoff = (now or timezone.now()) - grace
    result = SweepResult()
    for prefix, owners in sorted(_key_fields().items()):
        for folder, files in _folders(storage, prefix):
            if not files:
                continue
            start = f"{folder}/"
            named: set[str] = set()
            for model, name in owners:
                rows = model._default_manager.filter(**{f"{name}__startswith": start}).values_list(name, flat=True)
                named.update(rows.iterator(chunk_size=10_000))
            for file_name in sorted(files):
                key = start + file_name
                result.listed += 1
                if key in named:
                    result.referenced += 1
                elif storage.get_modified_time(key) > cutoff:
                    result.young += 1
                else:
                    if not dry_run:
                        storage.delete(key)
                    result.deleted.append(key)
                    log(f"{'would delete' if dry_run else 'deleted'} {key}")
    return result


class StaticStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage that falls back to the unhashed name of an uncollected file.

    Tests and a fresh checkout render templates before `collectstatic` has run; they get the
    plain file name (served by WhiteNoise from the app folders) instead of an error.
    """

    manifest_strict = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            return name
