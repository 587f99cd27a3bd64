"""Backup makers, as a registry: format name -> dotted path of its Maker
class (``conf.DEFAULTS["MAKERS"]``; a project adds, replaces or removes
formats with ``DBKEEPER["MAKERS"]``, as it does for engines).

``by_format`` finds the maker of a format, ``default_for`` the format a
target is backed up in when none is asked for."""

from ...errors import DbkeeperError
from ...messages import N_
from ...registry import Registry
from .base import BackupOptions, MadeBackup, Maker

__all__ = ["BackupOptions", "MadeBackup", "Maker", "all_makers", "by_format", "default_for", "registry"]

# The format of a target's backup when none is asked for, by target kind.
DEFAULT_FORMATS = {"postgresql": "pg_custom", "sqlite": "sqlite"}


MAKERS = Registry("MAKERS", Maker, "backup maker")


def registry() -> dict:
    return MAKERS.paths()


def all_makers() -> list:
    return MAKERS.all()


def by_format(name) -> Maker:
    """The maker of format ``name``; a DbkeeperError naming the known ones otherwise."""
    maker = MAKERS.get(name)
    if maker is None:
        raise DbkeeperError(N_("There is no backup format %(format)s. The formats are: %(formats)s."), code="bad_format",
                            params={"format": repr(name), "formats": [m.format for m in all_makers()]})
    return maker


def default_for(target) -> Maker:
    return by_format(DEFAULT_FORMATS.get(target.kind, ""))
