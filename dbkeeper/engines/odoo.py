"""Odoo backup zips (what Odoo's database manager downloads): ``dump.sql``
(plain SQL from pg_dump), ``filestore/`` (the attachments) and
``manifest.json`` (Odoo version, database name, modules).

The SQL goes through the plain-SQL engine into the scratch database. The
filestore is unpacked into a scratch folder beside the database's filestore
folder (``<ODOO_FILESTORE_DIR>/<database name>``, as Odoo lays it out) and
swapped in together with the database. The zip is checked entry by entry
before anything is unpacked (see zipsafe).
"""

import json
import logging
import os
import tempfile
from pathlib import Path

from django.utils import timezone

from .. import conf
from ..errors import BackupRejected, RestoreFailed
from ..messages import Message, N_, Np_
from .base import BackupInfo, Engine
from .zipsafe import SafeZip, remove_tree

log = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
DUMP = "dump.sql"
MANIFEST = "manifest.json"
FILESTORE = "filestore/"
MODULES_SHOWN = 40


def open_zip(path) -> SafeZip:
    return SafeZip(path, conf.get("ZIP_MAX_UNCOMPRESSED"), conf.get("ZIP_MAX_ENTRIES"), what=Message(N_("Odoo backup")))


def _plain_engine():
    from .pg_plain import PgPlainEngine

    return PgPlainEngine()


class _DumpFile:
    """dump.sql unpacked to a temporary file for the plain-SQL engine, removed afterwards."""

    def __init__(self, archive: SafeZip, on_bytes=None):
        self.archive = archive
        self.on_bytes = on_bytes
        self.folder = None

    def __enter__(self) -> Path:
        self.folder = Path(tempfile.mkdtemp(prefix="odoo-", dir=conf.data_subdir("tmp")))
        path = self.folder / DUMP
        try:
            self.archive.extract_file(DUMP, path, self.on_bytes)
        except BaseException:
            remove_tree(self.folder)
            raise
        return path

    def __exit__(self, *exc):
        remove_tree(self.folder)


class OdooEngine(Engine):
    format = "odoo_zip"
    label = N_("Odoo backup (zip with dump.sql and filestore)")
    target_kinds = ("postgresql",)

    def sniff(self, head: bytes) -> bool:
        # Odoo writes dump.sql first; its name is in the first local header.
        return head.startswith(ZIP_MAGIC) and any(name.encode() in head for name in (DUMP, MANIFEST, FILESTORE))

    def inspect(self, path) -> BackupInfo:
        path = Path(path)
        with open_zip(path) as archive:
            if DUMP not in archive:
                raise BackupRejected(N_("This zip is not an Odoo backup: it has no dump.sql."))
            manifest = _read_manifest(archive)
            files = archive.files_under(FILESTORE)
            with _DumpFile(archive) as dump:
                sql = _plain_engine().inspect(dump)
            dump_bytes = archive.entries[DUMP].file_size
        modules = manifest.get("modules") or {}
        module_names = sorted(modules) if isinstance(modules, (dict, list)) else []
        details = {
            "odoo_version": manifest.get("version") or "unknown",
            "database": manifest.get("db_name") or "unknown",
            "modules": len(module_names),
            "module_names": ", ".join(module_names[:MODULES_SHOWN]) + (" …" if len(module_names) > MODULES_SHOWN else ""),
            "filestore_files": len(files),
            "filestore_bytes": sum(info.file_size for info in files),
            "dump_bytes": dump_bytes,
            "manifest": _manifest_summary(manifest),
            "sql": sql.as_dict(),
        }
        return BackupInfo(
            format=self.format,
            label=self.label,
            size=path.stat().st_size,
            compressed=True,
            tables=list(sql.tables),
            server_version=manifest.get("pg_version") or sql.server_version,
            details=details,
        )

    def restore(self, path, info: BackupInfo, target, progress) -> None:
        sql_info = BackupInfo(**info.details["sql"])
        progress.message(N_("Unpacking dump.sql from the Odoo backup."))
        with open_zip(path) as archive, _DumpFile(archive) as dump:
            progress.check_cancel()
            _plain_engine().restore(dump, sql_info, target, _WithFilestore(progress, info.details.get("filestore_bytes", 0)))

    def check(self, info: BackupInfo, target) -> None:
        _plain_engine().check(BackupInfo(**info.details["sql"]), target)

    def companion(self, path, info: BackupInfo, target, operation_id):
        """The filestore, swapped in with the database; None if the backup has none."""
        if not info.details.get("filestore_files"):
            return None
        root = conf.get("ODOO_FILESTORE_DIR")
        if not root:
            raise RestoreFailed(
                N_("This Odoo backup has a filestore, but no Odoo filestore folder is configured: set "
                   "ODOO_FILESTORE_DIR in the DBKEEPER settings (Odoo's data_dir/filestore). Nothing was changed."),
                code="no_filestore_dir",
            )
        return FilestoreSwap(path, Path(root), target.name, operation_id, info.details.get("dump_bytes", 0))


class _WithFilestore:
    """Progress for the SQL part, with room left in the total for the filestore
    that is unpacked afterwards (so the bar does not sit at the end meanwhile)."""

    def __init__(self, progress, filestore_bytes):
        self._progress = progress
        self._extra = int(filestore_bytes or 0)

    def set_total(self, total, unit="bytes"):
        self._progress.set_total(total + (self._extra if unit == "bytes" else 0), unit)

    def __getattr__(self, name):
        return getattr(self._progress, name)


class FilestoreSwap:
    """The filestore of one database: unpacked beside the live folder, then
    swapped in by two renames in the same folder."""

    def __init__(self, zip_path, root: Path, dbname, operation_id, dump_bytes=0):
        self.zip_path = zip_path
        self.root = root
        self.live = root / dbname
        short = operation_id.rsplit("_", 1)[-1][:12]
        self.scratch = root / f".{dbname}.dbk-scratch-{short}"
        self.previous = None
        self.dump_bytes = dump_bytes
        self.swapped = False

    def prepare(self, progress):
        progress.message(N_("Unpacking the filestore beside the live one."))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RestoreFailed(N_("The Odoo filestore folder %(folder)s cannot be created: %(error)s."),
                                params={"folder": str(self.root), "error": str(exc)}) from exc
        remove_tree(self.scratch)
        self.scratch.mkdir()
        written = 0

        def on_bytes(n):
            nonlocal written
            written += n
            progress.advance(self.dump_bytes + written)

        with open_zip(self.zip_path) as archive:
            count = archive.extract_tree(FILESTORE, self.scratch, on_bytes)
        progress.event(Message(Np_("Unpacked %(count)s filestore file.", "Unpacked %(count)s filestore files."), {"count": count}))

    def swap(self) -> dict:
        if self.live.exists():
            stamp = timezone.now().strftime("%Y%m%d_%H%M%S")
            self.previous = self.live.with_name(f"{self.live.name}.prerestore-{stamp}")
            os.rename(self.live, self.previous)
        try:
            os.rename(self.scratch, self.live)
        except OSError:
            if self.previous is not None:
                os.rename(self.previous, self.live)
                self.previous = None
            raise
        self.swapped = True
        log.info("filestore %s swapped in; previous kept as %s", self.live, self.previous)
        return {"filestore": str(self.live), "filestore_prerestore": str(self.previous) if self.previous else None}

    def rollback(self):
        """The database swap failed after the filestore's: put the old folder back."""
        if not self.swapped:
            return
        os.rename(self.live, self.scratch)
        if self.previous is not None:
            os.rename(self.previous, self.live)
        self.swapped = False
        log.info("filestore %s put back after a failed database swap", self.live)

    def discard(self):
        if not self.swapped:
            remove_tree(self.scratch)


def _read_manifest(archive: SafeZip) -> dict:
    if MANIFEST not in archive:
        return {}
    try:
        manifest = json.loads(archive.read_small(MANIFEST))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupRejected(N_("manifest.json in the Odoo backup is not valid JSON: %(error)s."), params={"error": str(exc)}) from exc
    if not isinstance(manifest, dict):
        raise BackupRejected(N_("manifest.json in the Odoo backup is not a JSON object."))
    return manifest


def _manifest_summary(manifest: dict) -> dict:
    """What manifest.json says, without the module list (shown apart)."""
    return {key: value for key, value in manifest.items() if key != "modules" and isinstance(value, (str, int, float, list))}


ENGINE = OdooEngine()
