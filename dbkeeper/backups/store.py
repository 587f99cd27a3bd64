"""Putting a recognised file into backup storage, and getting a local path
back for the restore tools."""

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from django.utils import timezone

from .. import conf, engines
from ..errors import BackupRejected
from ..streams import StreamSource
from .models import Backup, new_backup_id
from .storage import LocalStorage, get_storage

log = logging.getLogger(__name__)
CHUNK = 8 * 1024 * 1024


def backup_storage(name=None):
    """The backup storage called ``name`` (None: the default one)."""
    return get_storage(name)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_file(path, original_name, user=None, source="upload", move=True, sha256=None, recipients=None) -> Backup:
    """Recognise ``path``, record it and put it in storage, encrypted to
    ``recipients`` (default: DBKEEPER["AGE_RECIPIENTS"]; none: as it is). A
    file no engine recognises raises BackupRejected (the caller deletes what
    it received)."""
    from .encryption import default_recipients, encrypting

    path = Path(path)
    engine, info = engines.inspect(path)
    recipients = default_recipients() if recipients is None else [str(r) for r in recipients]
    backup_id = new_backup_id()
    suffix = "".join(Path(original_name).suffixes)[-20:] if original_name else ""
    safe_suffix = "".join(c for c in suffix if c.isalnum() or c == ".") + (".age" if recipients else "")
    storage_name = f"{timezone.now():%Y/%m}/{backup_id}{safe_suffix}"
    storage = get_storage()
    info_extra = {}
    if isinstance(storage, LocalStorage) and move and not recipients:
        # Same disk: a rename, not a copy of gigabytes.
        digest, size = sha256 or sha256_of(path), info.size
        stored = storage.adopt(path, storage_name)
    else:
        plain = hashlib.sha256()
        with open(path, "rb") as fh, storage.writer(storage_name, f"store-{backup_id}") as out:
            with (encrypting(out, recipients) if recipients else contextlib.nullcontext(out)) as sink:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    plain.update(chunk)
                    sink.write(chunk)
            out.commit()
        # Those of the stored bytes: the ciphertext when encrypted.
        digest, size, stored = out.sha256, out.size, out.final_name
        if recipients:
            # What the uploader has, so that it can check what arrived.
            info_extra = {"plaintext": {"size": info.size, "sha256": plain.hexdigest()}}
        if move:
            path.unlink()
    backup = Backup.objects.create(
        id=backup_id,
        name=os.path.basename(original_name or path.name)[:255],
        storage=storage.name,
        storage_name=stored,
        size=size,
        sha256=digest,
        recipients=recipients,
        format=info.format,
        format_label=info.label,
        info={**info.as_dict(), **info_extra},
        user_id=str(getattr(user, "pk", "") or ""),
        username=user.get_username() if user is not None and hasattr(user, "get_username") else "",
        source=source,
    )
    log.info("stored backup %s (%s, %s bytes) in %s storage", backup.id, backup.format, backup.size, storage.name)
    return backup


@contextlib.contextmanager
def local_path(backup: Backup):
    """A filesystem path with the backup's plaintext: the file itself on local
    storage, a temporary download otherwise; an encrypted backup is decrypted
    into scratch space first. Temporary files are removed afterwards."""
    storage = get_storage(backup.storage or None)
    if not backup.encrypted:
        with storage.local_copy(backup.storage_name) as path:
            yield path
        return
    from .encryption import decrypt_to, identity_file

    identity = identity_file()
    tmpdir = tempfile.mkdtemp(prefix="decrypted-", dir=conf.data_subdir("tmp"))
    try:
        target = Path(tmpdir) / "backup"
        decrypt_to(storage.open_stream(backup.storage_name), target, identity)
        yield target
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def restore_source(backup: Backup):
    """What a restore or a verification reads: on remote storage (S3), for a
    format whose tool reads a stream (serial pg_restore, psql), the stored
    bytes streamed (decrypted on the way when encrypted), with no local copy;
    otherwise a local path (local_path)."""
    storage = get_storage(backup.storage or None)
    engine = engines.by_format(backup.format)
    if isinstance(storage, LocalStorage) or engine is None or not engine.can_stream():
        with local_path(backup) as path:
            yield path
        return
    yield stream_source(backup, storage)


def stream_source(backup: Backup, storage=None) -> StreamSource:
    """The backup's plaintext as a StreamSource over its stored bytes."""
    storage = storage or get_storage(backup.storage or None)
    name = backup.storage_name
    if not backup.encrypted:
        return StreamSource(f"{storage.name}:{name}", lambda: storage.open_stream(name), format=backup.format,
                            size=backup.size)
    from .encryption import decrypted_chunks, identity_file, load_identities

    identity = identity_file()
    load_identities(identity)  # a missing or unreadable identity is said before anything starts
    return StreamSource(f"{storage.name}:{name}", lambda: decrypted_chunks(storage.open_stream(name), identity),
                        format=backup.format)


def delete(backup: Backup):
    get_storage(backup.storage or None).delete(backup.storage_name)
    backup.delete()


__all__ = ["add_file", "local_path", "restore_source", "stream_source", "delete", "backup_storage", "BackupRejected"]
