"""Putting a recognised file into backup storage, and getting a local path
back for the restore tools."""

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from django.utils import timezone

from .. import conf, engines
from ..errors import BackupRejected
from .models import Backup, new_backup_id

log = logging.getLogger(__name__)
CHUNK = 8 * 1024 * 1024


def backup_storage():
    """The storage named "dbkeeper_backups" if the project configures one
    (e.g. S3 through django-storages), else a folder in the data directory."""
    try:
        return storages["dbkeeper_backups"]
    except Exception:
        return FileSystemStorage(location=str(conf.data_subdir("backups")))


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_file(path, original_name, user=None, source="upload", move=True, sha256=None) -> Backup:
    """Recognise ``path``, record it and put it in storage. A file no engine
    recognises raises BackupRejected (the caller deletes what it received)."""
    path = Path(path)
    engine, info = engines.inspect(path)
    backup_id = new_backup_id()
    suffix = "".join(Path(original_name).suffixes)[-20:] if original_name else ""
    safe_suffix = "".join(c for c in suffix if c.isalnum() or c == ".")
    storage_name = f"{timezone.now():%Y/%m}/{backup_id}{safe_suffix}"
    digest = sha256 or sha256_of(path)
    storage = backup_storage()
    if isinstance(storage, FileSystemStorage) and move:
        # Same disk: a rename, not a copy of gigabytes.
        dest = Path(storage.path(storage_name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), dest)
        stored = storage_name
    else:
        with open(path, "rb") as fh:
            stored = storage.save(storage_name, File(fh))
        if move:
            path.unlink()
    backup = Backup.objects.create(
        id=backup_id,
        name=os.path.basename(original_name or path.name)[:255],
        storage_name=stored,
        size=info.size,
        sha256=digest,
        format=info.format,
        format_label=info.label,
        info=info.as_dict(),
        user_id=str(getattr(user, "pk", "") or ""),
        username=user.get_username() if user is not None and hasattr(user, "get_username") else "",
        source=source,
    )
    log.info("stored backup %s (%s, %s bytes)", backup.id, backup.format, backup.size)
    return backup


@contextlib.contextmanager
def local_path(backup: Backup):
    """A filesystem path for the backup: the file itself on local storage, a
    temporary download otherwise (removed afterwards)."""
    storage = backup_storage()
    if isinstance(storage, FileSystemStorage):
        yield Path(storage.path(backup.storage_name))
        return
    tmpdir = tempfile.mkdtemp(dir=conf.data_subdir("tmp"))
    try:
        target = Path(tmpdir) / "backup"
        with storage.open(backup.storage_name, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def delete(backup: Backup):
    backup_storage().delete(backup.storage_name)
    backup.delete()


__all__ = ["add_file", "local_path", "delete", "backup_storage", "BackupRejected"]
