"""SQLite database files, raw or gzipped.

inspect() opens the backup read-only and immutable (nothing is written beside
it; a gzipped one is first decompressed into a temporary folder), runs
``PRAGMA integrity_check`` and reads the header. restore() copies the database
into the scratch file in chunks. A database in WAL mode is switched to a
rollback journal while it is checked (a WAL database opened even read-only
leaves -wal/-shm files beside it), and back to WAL once the checks passed, so
the scratch file that is swapped in is one self-contained file in the mode
the backup had.
"""

import gzip
import logging
import os
import shutil
import sqlite3
import struct
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

from ..errors import BackupRejected, CheckFailed
from ..messages import N_, Np_
from ..streams import is_gzip, open_maybe_gzipped
from .base import BackupInfo, Engine

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
CHUNK = 1 << 20
HEADER_SIZE = 100
TEXT_ENCODINGS = {1: "UTF-8", 2: "UTF-16le", 3: "UTF-16be"}


class SqliteEngine(Engine):
    format = "sqlite"
    label = N_("SQLite database")
    target_kinds = ("sqlite",)
    sniff_bytes = 100

    def sniff(self, head: bytes) -> bool:
        return head.startswith(SQLITE_MAGIC)

    def inspect(self, path) -> BackupInfo:
        path = Path(path)
        compressed = is_gzip(path)
        with _plain_copy(path) if compressed else _as_is(path) as database:
            size = database.stat().st_size
            with open(database, "rb") as raw:
                header = parse_header(raw.read(HEADER_SIZE), size)
            tables, rows = _read_database(database)
        return BackupInfo(
            format=self.format,
            label=self.label,
            size=path.stat().st_size,
            compressed=compressed,
            tables=tables,
            server_version=f"SQLite {header['sqlite_version']}",
            details={"uncompressed_size": size, **header, "table_rows": rows},
        )

    def restore(self, path, info: BackupInfo, target, progress) -> None:
        dest = target.path
        progress.set_total(info.details.get("uncompressed_size") or 0, "bytes")
        done = 0
        try:
            with open_maybe_gzipped(path) as source, open(dest, "xb") as out:
                while True:
                    chunk = source.read(CHUNK)
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    progress.advance(done)
                out.flush()
                os.fsync(out.fileno())
            progress.flush(force=True)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise BackupRejected(N_("The gzipped SQLite file is damaged or cut short: %(error)s."),
                                 params={"error": str(exc)}) from exc
        if info.details.get("journal_mode") == "wal":
            log.info("switching %s to a rollback journal while it is checked", dest.name)
            set_journal_mode(dest, "delete")

    def check(self, info: BackupInfo, target) -> None:
        super().check(info, target)
        if info.details.get("journal_mode") == "wal":
            # Back to the backup's own mode; closing the last connection folds and removes the log.
            set_journal_mode(target.path, "wal")
        leftovers = [s for s in ("-wal", "-shm", "-journal") if Path(f"{target.path}{s}").exists()]
        if leftovers:
            raise CheckFailed(
                Np_("The restored SQLite file is not self-contained: a %(files)s file remains beside it.",
                    "The restored SQLite file is not self-contained: %(files)s files remain beside it."),
                params={"count": len(leftovers), "files": leftovers},
            )


def parse_header(header: bytes, file_size: int) -> dict:
    """The facts of a SQLite file's 100-byte header; BackupRejected if it is cut short."""
    if len(header) < HEADER_SIZE or not header.startswith(SQLITE_MAGIC):
        raise BackupRejected(N_("The SQLite file is damaged: its 100-byte header is incomplete."))
    (page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise BackupRejected(N_("The SQLite file is damaged: its header gives an impossible page size (%(size)s)."),
                             params={"size": page_size})
    write_version, read_version = header[18], header[19]
    change_counter, pages = struct.unpack(">II", header[24:32])
    (encoding,) = struct.unpack(">I", header[56:60])
    (user_version,) = struct.unpack(">I", header[60:64])
    version_valid_for, version = struct.unpack(">II", header[92:100])
    # The page count in the header is trusted only if the same SQLite wrote both (file format docs, 1.3.7).
    if change_counter != version_valid_for or pages == 0:
        pages = file_size // page_size
    if file_size < pages * page_size:
        raise BackupRejected(
            N_("The SQLite file is cut short: its header says %(pages)s pages of %(page_size)s bytes "
               "(%(expected)s bytes), but the file holds %(size)s bytes."),
            params={"pages": pages, "page_size": page_size, "expected": pages * page_size, "size": file_size},
        )
    return {
        "page_size": page_size,
        "pages": pages,
        "journal_mode": "wal" if (write_version, read_version) == (2, 2) else "rollback",
        "text_encoding": TEXT_ENCODINGS.get(encoding, "UTF-8"),
        "user_version": user_version,
        "sqlite_version": f"{version // 1000000}.{version // 1000 % 1000}.{version % 1000}",
    }


def set_journal_mode(path, mode):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        got = conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
    finally:
        conn.close()
    if got.lower() != mode:
        raise CheckFailed(N_("The restored SQLite file could not be switched to %(mode)s journal mode (it stayed in %(got)s)."),
                          params={"mode": mode, "got": got})


def _read_database(path) -> list:
    """Run the integrity check and list the tables, read-only; BackupRejected if damaged."""
    uri = Path(path).resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
            if problems != ["ok"]:
                # SQLite's own words for what is wrong.
                raise BackupRejected(N_("The SQLite file is damaged: %(error)s."), params={"error": "; ".join(problems[:5])})
            tables = sorted(r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
            rows = _row_counts(conn, tables)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupRejected(N_("The SQLite file is damaged: %(error)s."), params={"error": str(exc)}) from exc
    return tables, rows


def _row_counts(conn, tables) -> dict:
    """Rows of each table (the integrity check has just read every page, so
    counting costs little more); a virtual table whose module is not loaded
    here is left out rather than taken for damage."""
    rows = {}
    for name in tables:
        try:
            rows[name] = conn.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()[0]
        except sqlite3.OperationalError:
            continue
    return rows


@contextmanager
def _as_is(path):
    yield Path(path)


@contextmanager
def _plain_copy(path):
    """The decompressed database in a temporary folder, removed afterwards."""
    folder = tempfile.mkdtemp(prefix="dbkeeper-inspect-")
    try:
        copy = Path(folder) / "backup.sqlite3"
        try:
            with gzip.open(path, "rb") as source, open(copy, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise BackupRejected(N_("The gzipped SQLite file is damaged or cut short: %(error)s."),
                                 params={"error": str(exc)}) from exc
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)
