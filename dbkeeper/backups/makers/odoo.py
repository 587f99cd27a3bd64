"""The zip Odoo's database manager writes and reads: ``dump.sql`` (plain
``pg_dump --no-owner``), ``filestore/`` (the database's attachments, from
``<ODOO_FILESTORE_DIR>/<database>``) and ``manifest.json`` with the fields
Odoo writes (odoo/service/db.py, dump_db_manifest). dump.sql comes first, as
in Odoo's own zips. Restorable by dbkeeper's Odoo engine and by Odoo."""

import json
import logging
import re
import zipfile
from pathlib import Path

from ... import conf
from ...messages import N_
from .base import BackupOptions, MadeBackup
from .pg_plain import PgPlainMaker
from .pgdump import DumpTracker, Snapshot, run_dump, tool_version

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class _Sink:
    """What zipfile needs of an unseekable output: write() and flush()."""

    def __init__(self, out):
        self.out = out

    def write(self, data):
        self.out.write(data)
        return len(data)

    def flush(self):
        pass


def pg_version_text(version_num: int) -> str:
    # As Odoo computes it: "%d.%d" % divmod(server_version / 100, 100) (15.0 for 150004).
    return "%d.%d" % divmod(version_num / 100, 100)


def odoo_versions(base_version: str):
    """version, version_info and major_version from the base module's
    latest_version ("17.0.1.3" -> "17.0", [17, 0, 0, "final", 0, ""], "17.0");
    saas-style ("saas~17.2") kept as Odoo names it."""
    match = re.match(r"^(saas~)?(\d+)\.(\d+)", base_version or "")
    if not match:
        return "", [], ""
    major = f"{match.group(1) or ''}{match.group(2)}.{match.group(3)}"
    return major, [int(match.group(2)), int(match.group(3)), 0, "final", 0, ""], major


def manifest_of(snapshot: Snapshot, dbname: str) -> dict:
    """Odoo's manifest fields, read in the backup's snapshot. A database
    without Odoo's module table (not Odoo, or not yet initialised) lists none."""
    modules = {}
    if snapshot.fetch("SELECT to_regclass('public.ir_module_module') IS NOT NULL")[0][0]:
        rows = snapshot.fetch("SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'")
        modules = {name: version for name, version in rows}
    version, version_info, major = odoo_versions(modules.get("base") or "")
    return {
        "odoo_dump": "1",
        "db_name": dbname,
        "version": version,
        "version_info": version_info,
        "major_version": major,
        "pg_version": pg_version_text(snapshot.server_version_num),
        "modules": modules,
    }


def filestore_files(dbname) -> tuple[Path | None, list]:
    root = conf.get("ODOO_FILESTORE_DIR")
    if not root:
        return None, []
    folder = Path(root) / dbname
    if not folder.is_dir():
        return folder, []
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    return folder, files


class OdooMaker(PgPlainMaker):
    format = "odoo"
    engine_format = "odoo_zip"
    label = N_("Odoo backup (zip with dump.sql and filestore)")
    extension = ".zip"
    pg_dump_options = ("--no-owner",)

    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        folder, files = filestore_files(target.name)
        filestore_bytes = sum(p.stat().st_size for p in files)
        path, _, version = tool_version("pg_dump")
        with Snapshot(target) as snapshot:
            manifest = manifest_of(snapshot, target.name)
            tables = snapshot.tables()
            tracker = DumpTracker(tables, extra=filestore_bytes)
            level = options.compress
            compression = zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED
            with zipfile.ZipFile(_Sink(out), "w", compression=compression, compresslevel=level or None,
                                 allowZip64=True) as archive:
                with archive.open("dump.sql", "w", force_zip64=True) as dump:
                    argv = [path, "-Fp", "--verbose", f"--snapshot={snapshot.id}", "--no-password",
                            *self.pg_dump_options]
                    run_dump(argv, target, dump.write, progress, tracker, options.operation_id, snapshot=snapshot)
                archive.writestr("manifest.json", json.dumps(manifest, indent=4))
                done = tracker.data_total
                for file in files:
                    progress.check_cancel()
                    name = "filestore/" + file.relative_to(folder).as_posix()
                    with open(file, "rb") as src, archive.open(name, "w", force_zip64=True) as dst:
                        for chunk in iter(lambda: src.read(CHUNK), b""):
                            dst.write(chunk)
                            done += len(chunk)
                            progress.advance(done)
        return MadeBackup(
            tables={t.name: t.rows for t in tables}, server_version=snapshot.server_version,
            tool_version=f"pg_dump {version}",
            details={"odoo_version": manifest["version"], "modules": len(manifest["modules"]),
                     "filestore_files": len(files), "filestore_bytes": filestore_bytes,
                     "filestore": str(folder) if folder else None},
        )
