"""Where stored backups live: a folder in the data directory, S3 (through
django-storages' settings, but read and written with boto3 directly), or any
other Django storage.

Every storage offers the same small API, built so that a backup is never seen
half-written and a read never holds a whole file in memory:

    storage = get_storage()                     # or get_storage("s3")
    with storage.writer("2026/11/bk_1.dump", op.id) as out:
        ...out.write(chunk)...                  # out.size, out.sha256 as bytes pass
        out.commit()                            # only after the tool exited cleanly
    for chunk in storage.open_stream("2026/11/bk_1.dump", start=100):
        ...

Leaving the ``with`` block without ``commit()`` removes the temporary file or
aborts the multipart upload. ``sweep_unfinished(operation_id)`` does the same
for a writer whose process died (watchdog, crash recovery).

django-storages' S3 file object reads whole objects into memory, so it is
never used: writes are boto3 multipart uploads with bounded parts, reads are
``get_object`` with a Range and its streaming body.
"""

import contextlib
import hashlib
import logging
import os
import posixpath
import secrets
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from django.core.files.storage import FileSystemStorage, InvalidStorageError, storages

from .. import conf
from ..errors import DbkeeperError
from ..messages import N_

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# Django storage alias a project configures for backups (e.g. S3); named
# storages beyond it are "dbkeeper_backups_<name>".
STORAGE_ALIAS = "dbkeeper_backups"
# Temporary files of unfinished writes (local), and the markers of unfinished
# multipart uploads (S3): never listed as backups.
PARTIAL_DIR = ".partial"


class StorageError(DbkeeperError):
    code = "storage_error"


def _django_storage(alias):
    try:
        return storages[alias]
    except InvalidStorageError:
        return None


def _is_s3(storage) -> bool:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # django-storages not installed: nothing can be S3
        return False
    return isinstance(storage, S3Storage)


def _kind(storage) -> str:
    if isinstance(storage, FileSystemStorage):
        return "local"
    if _is_s3(storage):
        return "s3"
    return "django"


def default_name() -> str:
    """The storage new backups go to: DBKEEPER["BACKUP_STORAGE"] if set,
    otherwise the kind of the project's "dbkeeper_backups" storage, else local."""
    chosen = conf.get("BACKUP_STORAGE")
    if chosen:
        return chosen
    configured = _django_storage(STORAGE_ALIAS)
    return _kind(configured) if configured is not None else "local"


def get_storage(name=None) -> "BackupStorage":
    """The storage called ``name`` ("local", "s3", or X for a Django storage
    configured as "dbkeeper_backups_X"); None means the default one."""
    name = name or default_name()
    configured = _django_storage(STORAGE_ALIAS)
    if configured is not None and _kind(configured) == name:
        return _wrap(name, configured)
    named = _django_storage(f"{STORAGE_ALIAS}_{name}")
    if named is not None:
        return _wrap(name, named)
    if name == "local":
        return LocalStorage("local", conf.data_subdir("backups"))
    raise StorageError(
        N_('There is no backup storage called "%(name)s": configure it in STORAGES as "%(alias)s" '
           '(or "%(named_alias)s"), or use "local".'),
        code="unknown_storage",
        params={"name": name, "alias": STORAGE_ALIAS, "named_alias": f"{STORAGE_ALIAS}_{name}"},
    )


def _wrap(name, django_storage) -> "BackupStorage":
    kind = _kind(django_storage)
    if kind == "local":
        return LocalStorage(name, Path(django_storage.location))
    if kind == "s3":
        from .s3 import S3BackupStorage

        return S3BackupStorage(name, django_storage)
    return DjangoBackupStorage(name, django_storage)


def clean_name(name: str) -> str:
    """A stored name is a relative path made by dbkeeper; refuse anything
    that could leave the storage's root."""
    name = str(name).replace("\\", "/")
    normal = posixpath.normpath(name)
    if not name or normal.startswith(("/", "../")) or normal in (".", "..") or normal.split("/")[0] == PARTIAL_DIR:
        raise StorageError(N_("%(name)s is not a valid name for a stored backup."), code="bad_storage_name",
                           params={"name": name})
    return normal


def _safe_operation_id(operation_id) -> str:
    text = str(operation_id or "none")
    return "".join(c for c in text if c.isalnum() or c in "-_")[:64] or "none"


class StoredWriter(ABC):
    """File-like sink for one stored file. Counts and hashes what passes;
    ``commit()`` makes it visible under its final name; leaving the ``with``
    block without committing throws it away."""

    def __init__(self, storage, final_name, operation_id):
        self.storage = storage
        self.final_name = clean_name(final_name)
        self.operation_id = _safe_operation_id(operation_id)
        self.size = 0
        self._digest = hashlib.sha256()
        self.committed = False
        self._closed = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def writable(self):
        return True

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to a finished StoredWriter")
        if not data:
            return 0
        self._digest.update(data)
        self.size += len(data)
        self._write(data)
        return len(data)

    def flush(self):
        pass

    def commit(self):
        if self._closed:
            raise ValueError("commit of a finished StoredWriter")
        self._commit()
        self.committed = True
        self._closed = True
        log.info("stored %s in %s storage (%s bytes)", self.final_name, self.storage.name, self.size)

    def abort(self):
        if self._closed:
            return
        self._closed = True
        try:
            self._abort()
        except Exception:  # keep the original error; the sweep catches what is left
            log.exception("could not clean up the unfinished %s in %s storage", self.final_name, self.storage.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.committed:
            self.abort()
        return False

    # What each kind of storage does.
    @abstractmethod
    def _write(self, data): ...

    @abstractmethod
    def _commit(self): ...

    @abstractmethod
    def _abort(self): ...


class BackupStorage(ABC):
    name: str
    kind: str

    @abstractmethod
    def writer(self, final_name, operation_id) -> StoredWriter: ...

    @abstractmethod
    def open_stream(self, name, start=0, end=None): ...

    @abstractmethod
    def size(self, name) -> int: ...

    @abstractmethod
    def exists(self, name) -> bool: ...

    @abstractmethod
    def delete(self, name) -> None: ...

    @abstractmethod
    def list_names(self, prefix=""): ...

    @contextlib.contextmanager
    def local_copy(self, name):
        """A temporary local file with the stored bytes, for tools that must
        seek (parallel pg_restore); removed afterwards."""
        tmpdir = tempfile.mkdtemp(prefix="stored-", dir=conf.data_subdir("tmp"))
        try:
            target = Path(tmpdir) / posixpath.basename(clean_name(name))
            with open(target, "wb") as out:
                for chunk in self.open_stream(name):
                    out.write(chunk)
            yield target
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def sweep_unfinished(self, operation_id) -> int:
        return 0

    def sweep_stale(self, max_age_seconds) -> int:
        """Remove the unfinished writes of any operation older than
        ``max_age_seconds`` (a safety net for writers whose operation id was
        never recorded, e.g. a web process that died while storing an upload)."""
        return 0

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


def _check_range(size, start, end):
    if start < 0 or start > size or (end is not None and (end < start - 1 or end >= size)):
        raise StorageError(N_("The byte range %(start)s-%(end)s is outside the stored file (%(size)s bytes)."),
                           code="bad_range", params={"start": start, "end": "" if end is None else end, "size": size})


# ---------------------------------------------------------------- local folder


class LocalWriter(StoredWriter):
    def __init__(self, storage, final_name, operation_id):
        super().__init__(storage, final_name, operation_id)
        partial = storage.root / PARTIAL_DIR
        partial.mkdir(parents=True, exist_ok=True)
        # The same filesystem as the final name, so that commit is a rename.
        self.temp_path = partial / f"{self.operation_id}.{secrets.token_hex(6)}.part"
        self._fh = open(self.temp_path, "xb")

    def _write(self, data):
        self._fh.write(data)

    def _commit(self):
        final = self.storage.path(self.final_name)
        if final.exists():
            self._abort()
            raise StorageError(N_("A stored file called %(name)s already exists."), code="storage_name_taken",
                               params={"name": self.final_name})
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.temp_path, final)
        _fsync_dir(final.parent)

    def _abort(self):
        self._fh.close()
        self.temp_path.unlink(missing_ok=True)


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LocalStorage(BackupStorage):
    kind = "local"

    def __init__(self, name, root):
        self.name = name
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, name) -> Path:
        path = (self.root / clean_name(name)).resolve()
        if self.root not in path.parents:
            raise StorageError(N_("%(name)s is not a valid name for a stored backup."), code="bad_storage_name",
                               params={"name": name})
        return path

    def _missing(self, name):
        return StorageError(N_("The stored file %(name)s is missing from the %(storage)s storage."),
                            code="backup_missing", params={"name": name, "storage": self.name})

    def writer(self, final_name, operation_id) -> StoredWriter:
        return LocalWriter(self, final_name, operation_id)

    def adopt(self, source_path, final_name):
        """Move a file that is already on this disk into storage (a rename, not a
        copy of gigabytes); copies when it is on another filesystem."""
        final = self.path(final_name)
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source_path), final)
        return clean_name(final_name)

    def open_stream(self, name, start=0, end=None):
        path = self.path(name)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise self._missing(name) from None
        size = os.fstat(fh.fileno()).st_size
        try:
            _check_range(size, start, end)
        except StorageError:
            fh.close()
            raise
        return _read_file(fh, start, (size - 1 if end is None else end) - start + 1)

    def size(self, name) -> int:
        try:
            return self.path(name).stat().st_size
        except FileNotFoundError:
            raise self._missing(name) from None

    def exists(self, name) -> bool:
        return self.path(name).is_file()

    def delete(self, name) -> None:
        self.path(name).unlink(missing_ok=True)

    def list_names(self, prefix=""):
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            if rel_dir == ".":
                dirnames[:] = [d for d in dirnames if d != PARTIAL_DIR]
                rel_dir = ""
            dirnames.sort()
            for filename in sorted(filenames):
                name = f"{rel_dir}/{filename}" if rel_dir else filename
                if name.startswith(prefix):
                    yield name

    @contextlib.contextmanager
    def local_copy(self, name):
        path = self.path(name)
        if not path.is_file():
            raise self._missing(name)
        yield path

    def sweep_unfinished(self, operation_id) -> int:
        removed = 0
        for path in (self.root / PARTIAL_DIR).glob(f"{_safe_operation_id(operation_id)}.*.part"):
            path.unlink(missing_ok=True)
            removed += 1
        if removed:
            log.info("removed %s unfinished file(s) of operation %s from %s storage", removed, operation_id, self.name)
        return removed

    def sweep_stale(self, max_age_seconds) -> int:
        return _remove_old_parts(self.root / PARTIAL_DIR, max_age_seconds)


def _remove_old_parts(folder, max_age_seconds) -> int:
    import time

    cutoff, removed = time.time() - max_age_seconds, 0
    for path in Path(folder).glob("*.part") if Path(folder).is_dir() else ():
        try:
            if path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.info("removed %s stale unfinished file(s) from %s", removed, folder)
    return removed


def _read_file(fh, start, length):
    with fh:
        fh.seek(start)
        while length > 0:
            chunk = fh.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk


# ------------------------------------------------------- any Django storage


class DjangoWriter(StoredWriter):
    """Spools to a local temporary file and saves it on commit: a generic
    Django storage offers nothing better than save()."""

    def __init__(self, storage, final_name, operation_id):
        super().__init__(storage, final_name, operation_id)
        self.temp_path = conf.data_subdir("tmp") / f"{self.operation_id}.{secrets.token_hex(6)}.part"
        self._fh = open(self.temp_path, "xb+")

    def _write(self, data):
        self._fh.write(data)

    def _commit(self):
        from django.core.files import File

        try:
            self._fh.seek(0)
            saved = self.storage.django.save(self.final_name, File(self._fh))
            if saved != self.final_name:
                self.storage.django.delete(saved)
                raise StorageError(N_("A stored file called %(name)s already exists."), code="storage_name_taken",
                                   params={"name": self.final_name})
        finally:
            self._abort()

    def _abort(self):
        self._fh.close()
        self.temp_path.unlink(missing_ok=True)


class DjangoBackupStorage(BackupStorage):
    kind = "django"

    def __init__(self, name, django_storage):
        self.name = name
        self.django = django_storage

    def writer(self, final_name, operation_id):
        return DjangoWriter(self, final_name, operation_id)

    def open_stream(self, name, start=0, end=None):
        size = self.size(name)
        _check_range(size, start, end)
        return _read_file(self.django.open(clean_name(name), "rb"), start, (size - 1 if end is None else end) - start + 1)

    def size(self, name):
        return self.django.size(clean_name(name))

    def exists(self, name):
        return self.django.exists(clean_name(name))

    def delete(self, name):
        self.django.delete(clean_name(name))

    def list_names(self, prefix=""):
        def walk(folder):
            dirs, files = self.django.listdir(folder)
            for f in sorted(files):
                yield posixpath.join(folder, f) if folder else f
            for d in sorted(dirs):
                if not folder and d == PARTIAL_DIR:
                    continue
                yield from walk(posixpath.join(folder, d) if folder else d)

        return (n for n in walk("") if n.startswith(prefix))

    def sweep_unfinished(self, operation_id) -> int:
        removed = 0
        for path in conf.data_subdir("tmp").glob(f"{_safe_operation_id(operation_id)}.*.part"):
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def sweep_stale(self, max_age_seconds) -> int:
        return _remove_old_parts(conf.data_subdir("tmp"), max_age_seconds)
