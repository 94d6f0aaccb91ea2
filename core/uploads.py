"""Uploaded files waiting for their job, in Django's "uploads" storage (a folder or object storage).

The web process saves an upload and hands the job its key (``imports/<32 hex>.csv``); any worker
on any machine opens it through the same storage, and deletes it once the job has run. Uploads
that were previewed and never imported are deleted by ``uploads_sweep`` after
``UPLOADS_MAX_AGE_HOURS``. Erasure removes a person's rows from every upload still stored
(``uploads_lines_drop``), so a waiting import cannot bring them back.
"""

import io
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.utils import timezone

from core.models import Job, JobStatus

FOLDER = "imports"
_KEY = re.compile(rf"^{FOLDER}/[0-9a-f]{{32}}\.csv$")
ERROR_BAD_KEY = "{key!r} is not an upload key (imports/<32 hex digits>.csv)."


def uploads_storage() -> Storage:
    """Return the storage that holds uploads (settings.STORAGES["uploads"])."""
    return storages["uploads"]


def upload_key(upload_id: str) -> str | None:
    """Return the storage key of an upload id from a form, or None when it is not one."""
    key = f"{FOLDER}/{upload_id}.csv"
    return key if _KEY.match(key) else None


def upload_id_of(key: str) -> str:
    """Return the id a form carries for the upload stored under ``key``."""
    return key.removeprefix(f"{FOLDER}/").removesuffix(".csv")


def upload_save(*, file: IO[bytes]) -> str:
    """Store an uploaded file under a new random key and return the key."""
    file.seek(0)
    key = uploads_storage().save(f"{FOLDER}/{uuid.uuid4().hex}.csv", file)
    return key.replace("\\", "/")


def upload_exists(key: str) -> bool:
    """Return whether an upload is still stored under ``key``."""
    return bool(_KEY.match(key)) and uploads_storage().exists(key)


def upload_open(key: str) -> IO[bytes]:
    """Open a stored upload for reading (binary, seekable); raise FileNotFoundError when gone."""
    if not _KEY.match(key or ""):
        raise ValueError(ERROR_BAD_KEY.format(key=key))
    storage = uploads_storage()
    if not storage.exists(key):
        raise FileNotFoundError(key)
    return storage.open(key, "rb")


def upload_delete(key: str) -> None:
    """Delete a stored upload (nothing happens when it is already gone)."""
    if _KEY.match(key or ""):
        uploads_storage().delete(key)


def _keys_in_use() -> set[str]:
    """Return the upload keys of jobs that have not finished: the sweep keeps them."""
    payloads = Job.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values_list(
        "payload", flat=True
    )
    return {payload.get("key") for payload in payloads if isinstance(payload, dict)}


def uploads_sweep(*, max_age: timedelta | None = None) -> dict[str, int]:
    """Delete uploads older than ``max_age`` (UPLOADS_MAX_AGE_HOURS) that no unfinished job uses."""
    if max_age is None:
        max_age = timedelta(hours=settings.UPLOADS_MAX_AGE_HOURS)
    storage = uploads_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:  # nothing was ever uploaded here
        return {"deleted": 0, "kept": 0}
    cutoff = timezone.now() - max_age
    in_use = _keys_in_use()
    deleted = kept = 0
    for name in names:
        key = f"{FOLDER}/{name}"
        if not _KEY.match(key) or key in in_use or storage.get_modified_time(key) > cutoff:
            kept += 1
            continue
        storage.delete(key)
        deleted += 1
    return {"deleted": deleted, "kept": kept}


def _lines_kept(data: bytes, matches: Callable[[str], bool]) -> tuple[bytes, int]:
    """Return the file without the data lines ``matches`` picks, and how many were dropped."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # never stored: a preview refuses a file that is not UTF-8
        return data, 0
    lines = text.splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if not matches(line)]
    dropped = len(lines) - len(kept)
    prefix = "\ufeff" if data.startswith("\ufeff".encode()) else ""
    return (prefix + "".join(kept)).encode(), dropped


def uploads_lines_drop(*, matches: Callable[[str], bool]) -> int:
    """Rewrite every stored upload without the data lines ``matches`` picks (the header stays);
    return how many lines were dropped."""
    storage = uploads_storage()
    try:
        _folders, names = storage.listdir(FOLDER)
    except FileNotFoundError:
        return 0
    dropped = 0
    for name in names:
        key = f"{FOLDER}/{name}"
        if not _KEY.match(key):
            continue
        with storage.open(key, "rb") as file:
            data = file.read()
        kept, count = _lines_kept(data, matches)
        if count:
            storage.delete(key)
            storage.save(key, io.BytesIO(kept))
            dropped += count
    return dropped
