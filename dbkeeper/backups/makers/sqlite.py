"""SQLite: SQLite's online backup API copies the live file (consistent even
while it is being written) into a temporary file in the data folder, which is
then gzipped into the storage and removed."""

import gzip
import sqlite3
import tempfile
from pathlib import Path

from ... import conf
from ...errors import DbkeeperError
from ...messages import N_
from .base import BackupOptions, MadeBackup, Maker

CHUNK = 1024 * 1024
PAGES_PER_STEP = 256


class SqliteMaker(Maker):
    format = "sqlite"
    engine_format = "sqlite"
    label = N_("SQLite database")
    target_kinds = ("sqlite",)
    extension = ".sqlite3.gz"

    def check(self, target, options: BackupOptions) -> None:
        super().check(target, options)
        if not target.path.is_file():
            raise DbkeeperError(N_("The SQLite file %(path)s does not exist."), code="source_missing",
                                params={"path": str(target.path)})

    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        folder = Path(tempfile.mkdtemp(prefix="sqlite-backup-", dir=conf.data_subdir("tmp")))
        copy = folder / "copy.sqlite3"
        try:
            size = target.path.stat().st_size
            progress.set_total(size * 2 or 1, "bytes")
            self._copy(target, copy, progress, size)
            tables, version = _count(copy)
            done = size
            gz = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=options.compress, mtime=0)
            with open(copy, "rb") as src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    gz.write(chunk)
                    done += len(chunk) * size // max(1, copy.stat().st_size)
                    progress.advance(done)
            gz.close()
            return MadeBackup(tables=tables, server_version=f"SQLite {version}", tool_version=f"SQLite {version}",
                              details={"database_bytes": copy.stat().st_size, "compression": options.compress})
        finally:
            copy.unlink(missing_ok=True)
            folder.rmdir()

    @staticmethod
    def _copy(target, copy, progress, size):
        source = sqlite3.connect(target.path.resolve().as_uri() + "?mode=ro", uri=True)
        dest = sqlite3.connect(copy)
        try:
            def step(status, remaining, total):
                if total:
                    progress.advance(size * (total - remaining) // total)

            source.backup(dest, pages=PAGES_PER_STEP, progress=step)
        except sqlite3.Error as exc:
            raise DbkeeperError(N_("The SQLite file %(path)s cannot be read: %(error)s."), code="backup_failed",
                                params={"path": str(target.path), "error": str(exc)}) from exc
        finally:
            dest.close()
            source.close()


def _count(path) -> tuple[dict, str]:
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        tables = {name: conn.execute(f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
                  for name in names}
        return tables, sqlite3.sqlite_version
    finally:
        conn.close()
