"""Backup formats, as a registry: format name -> dotted path of its Engine
class, in the order files are sniffed (``conf.DEFAULTS["ENGINES"]``; a
project adds, replaces or removes formats with ``DBKEEPER["ENGINES"]``).

``detect`` finds the engine for a file from its first bytes, ``by_format``
the engine of a stored backup, ``all_engines`` lists them all.
"""

import functools
import gzip
import zlib
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .. import conf
from ..errors import BackupRejected
from ..messages import N_, Message
from ..streams import GZIP_MAGIC
from .base import BackupInfo, Engine

__all__ = ["BackupInfo", "Engine", "all_engines", "by_format", "detect", "inspect", "preview", "read_head", "registry"]


def registry() -> dict:
    """Format name -> dotted path: the defaults, then the project's changes
    (a new name is added after the defaults; ``None`` removes a format)."""
    paths = dict(conf.DEFAULTS["ENGINES"])
    configured = (getattr(settings, "DBKEEPER", {}) or {}).get("ENGINES") or {}
    if not isinstance(configured, dict):
        raise ImproperlyConfigured('DBKEEPER["ENGINES"] must map format names to dotted paths of Engine classes.')
    paths.update(configured)
    return {name: path for name, path in paths.items() if path}


def all_engines() -> list:
    """Every registered engine, in registry order."""
    return list(_load(tuple(registry().items())))


def by_format(name):
    """The engine of format ``name``, or None if no registered engine has it
    (a stored backup of a format the project removed)."""
    return next((engine for engine in all_engines() if engine.format == name), None)


@functools.lru_cache(maxsize=8)
def _load(items: tuple) -> tuple:
    # Keyed on the registry itself, so a change of settings (tests) is seen.
    return tuple(_instantiate(name, path) for name, path in items)


def _instantiate(name, path) -> Engine:
    try:
        found = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"The backup format {name!r} names {path!r}, which cannot be imported: {exc}") from exc
    engine = found() if isinstance(found, type) else found
    if not isinstance(engine, Engine):
        raise ImproperlyConfigured(f"The backup format {name!r} names {path!r}, which is not a dbkeeper Engine.")
    if engine.format != name:
        raise ImproperlyConfigured(
            f"The backup format {name!r} names {path!r}, whose format is {engine.format!r}: the two must be the same."
        )
    return engine


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
    """The engine for ``path``, or BackupRejected with a sentence."""
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
