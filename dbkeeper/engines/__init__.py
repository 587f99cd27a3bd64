"""Backup formats, as a registry: format name -> dotted path of its Engine
class, in the order files are sniffed (``conf.DEFAULTS["ENGINES"]``; a
project adds, replaces or removes formats with ``DBKEEPER["ENGINES"]``).

``detect`` finds the engine for a file from its first bytes, ``by_format``
the engine of a stored backup, ``all_engines`` lists them all.
"""

import gzip
import zlib
from pathlib import Path

from ..errors import BackupRejected
from ..messages import N_, Message
from ..registry import Registry
from ..streams import GZIP_MAGIC, StreamSource
from .base import BackupInfo, Engine

__all__ = ["BackupInfo", "Engine", "all_engines", "by_format", "detect", "inspect", "preview", "read_head", "registry"]


ENGINES = Registry("ENGINES", Engine, "backup format")


def registry() -> dict:
    """Format name -> dotted path: the defaults, then the project's changes
    (a new name is added after the defaults; ``None`` removes a format)."""
    return ENGINES.paths()


def all_engines() -> list:
    """Every registered engine, in registry order."""
    return ENGINES.all()


def by_format(name):
    """The engine of format ``name``, or None if no registered engine has it
    (a stored backup of a format the project removed)."""
    return ENGINES.get(name)


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


def detect(path) -> Engine:
    """The engine for ``path``, or BackupRejected with a sentence. A
    StreamSource (a stored backup read as a stream) has its catalog's format."""
    if isinstance(path, StreamSource):
        engine = by_format(path.format)
        if engine is None or not engine.can_stream():
            raise BackupRejected(N_("This file is not a backup dbkeeper can restore. The formats it knows are: "
                                    "%(formats)s."), params={"formats": [Message(e.label) for e in all_engines()]})
        return engine
    path = Path(path)
    if not path.is_file():
        raise BackupRejected(N_("The backup file %(name)s does not exist."), params={"name": path.name})
    if path.stat().st_size == 0:
        raise BackupRejected(N_("The backup file is empty."))
    with open(path, "rb") as raw:
        raw_head = raw.read(4096)
    head = read_head(path)
    engines = all_engines()
    # A stable sort: registry order, loose formats last.
    for engine in sorted(engines, key=lambda engine: engine.sniff_last):
        if engine.sniff(raw_head) or (raw_head.startswith(GZIP_MAGIC) and engine.sniff(head)):
            return engine
    raise BackupRejected(
        N_("This file is not a backup dbkeeper can restore. The formats it knows are: %(formats)s."),
        params={"formats": [Message(engine.label) for engine in engines]},
    )


def inspect(path):
    engine = detect(path)
    return engine, engine.inspect(path)


def preview(path):
    """(engine, info) for confirming a restore: see Engine.preview."""
    engine = detect(path)
    return engine, engine.preview(path)
