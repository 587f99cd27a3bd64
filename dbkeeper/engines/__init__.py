"""Backup formats. ``detect`` finds the engine for a file from its first bytes."""

import gzip
import zlib
from pathlib import Path

from ..errors import BackupRejected
from ..messages import N_

GZIP_MAGIC = b"\x1f\x8b"


def all_engines():
    from .pg_custom import PgCustomEngine
    from .pg_plain import PgPlainEngine
    from .sqlite import SqliteEngine

    engines = [PgCustomEngine(), SqliteEngine(), PgPlainEngine()]
    for optional in ("fixtures", "odoo"):
        try:
            module = __import__(f"{__name__}.{optional}", fromlist=["ENGINE"])
        except ImportError:
            continue
        engines.insert(-1, module.ENGINE)
    return engines


def read_head(path, size=4096) -> bytes:
    """The first bytes of the file, decompressed when it is gzipped."""
    with open(path, "rb") as raw:
        head = raw.read(size)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as unzipped:
                return unzipped.read(size)
        except (OSError, EOFError, zlib.error) as exc:  # zlib.error: damaged deflate data
            raise BackupRejected(
                N_("The file looks gzipped but cannot be decompressed: %(error)s."), params={"error": str(exc)}
            ) from exc
    return head


def detect(path):
    """The engine for ``path``, or BackupRejected with a sentence."""
    path = Path(path)
    if not path.is_file():
        raise BackupRejected(N_("The backup file %(name)s does not exist."), params={"name": path.name})
    if path.stat().st_size == 0:
        raise BackupRejected(N_("The backup file is empty."))
    with open(path, "rb") as raw:
        raw_head = raw.read(4096)
    head = read_head(path)
    for engine in all_engines():
        if engine.sniff(raw_head) or (raw_head.startswith(GZIP_MAGIC) and engine.sniff(head)):
            return engine
    raise BackupRejected(
        "This file is not a backup dbkeeper can restore: it is not a PostgreSQL dump "
        "(custom format or plain SQL), a SQLite database, a Django fixture or an Odoo backup."
    )


def inspect(path):
    engine = detect(path)
    return engine, engine.inspect(path)
