"""Backup makers, as a registry: format name -> dotted path of its Maker
class (``conf.DEFAULTS["MAKERS"]``; a project adds, replaces or removes
formats with ``DBKEEPER["MAKERS"]``, as it does for engines).

``by_format`` finds the maker of a format, ``default_for`` the format a
target is backed up in when none is asked for."""

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ... import conf
from ...errors import DbkeeperError
from ...messages import N_
from .base import BackupOptions, MadeBackup, Maker

__all__ = ["BackupOptions", "MadeBackup", "Maker", "all_makers", "by_format", "default_for", "registry"]

# The format of a target's backup when none is asked for, by target kind.
DEFAULT_FORMATS = {"postgresql": "pg_custom", "sqlite": "sqlite"}


def registry() -> dict:
    paths = dict(conf.DEFAULTS["MAKERS"])
    configured = (getattr(settings, "DBKEEPER", {}) or {}).get("MAKERS") or {}
    if not isinstance(configured, dict):
        raise ImproperlyConfigured('DBKEEPER["MAKERS"] must map format names to dotted paths of Maker classes.')
    paths.update(configured)
    return {name: path for name, path in paths.items() if path}


def all_makers() -> list:
    return list(_load(tuple(registry().items())))


@functools.lru_cache(maxsize=8)
def _load(items: tuple) -> tuple:
    return tuple(_instantiate(name, path) for name, path in items)


def _instantiate(name, path) -> Maker:
    try:
        found = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"The backup maker {name!r} names {path!r}, which cannot be imported: {exc}") from exc
    maker = found() if isinstance(found, type) else found
    if not isinstance(maker, Maker):
        raise ImproperlyConfigured(f"The backup maker {name!r} names {path!r}, which is not a dbkeeper Maker.")
    if maker.format != name:
        raise ImproperlyConfigured(
            f"The backup maker {name!r} names {path!r}, whose format is {maker.format!r}: the two must be the same."
        )
    return maker


def by_format(name) -> Maker:
    """The maker of format ``name``; a DbkeeperError naming the known ones otherwise."""
    makers = all_makers()
    for maker in makers:
        if maker.format == name:
            return maker
    raise DbkeeperError(N_("There is no backup format %(format)s. The formats are: %(formats)s."), code="bad_format",
                        params={"format": repr(name), "formats": [m.format for m in makers]})


def default_for(target) -> Maker:
    return by_format(DEFAULT_FORMATS.get(target.kind, ""))
