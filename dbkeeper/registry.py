"""Registries of pluggable parts, as django-dbbackup's connector map: a
setting maps a format name to the dotted path of a class (dbkeeper's
defaults in ``conf.DEFAULTS``); the project's ``DBKEEPER[setting]`` adds a
name (after the defaults), replaces one (the same name) or removes one
(``None``). Engines (restoring a format) and makers (writing one) are
registries of this kind."""

import functools

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import conf


class Registry:
    def __init__(self, setting: str, base: type, what: str):
        self.setting = setting  # e.g. "ENGINES"
        self.base = base  # the class every entry must be an instance of
        self.what = what  # how the errors name an entry, e.g. "backup format"

    def paths(self) -> dict:
        """Format name -> dotted path: the defaults, then the project's changes."""
        paths = dict(conf.DEFAULTS[self.setting])
        configured = (getattr(settings, "DBKEEPER", {}) or {}).get(self.setting) or {}
        if not isinstance(configured, dict):
            raise ImproperlyConfigured(
                f'DBKEEPER["{self.setting}"] must map format names to dotted paths of {self.base.__name__} classes.')
        paths.update(configured)
        return {name: path for name, path in paths.items() if path}

    def all(self) -> list:
        """Every registered entry, in registry order."""
        return list(_load(self, tuple(self.paths().items())))

    def get(self, name):
        """The entry of format ``name``, or None."""
        return next((entry for entry in self.all() if entry.format == name), None)

    def instantiate(self, name, path):
        try:
            found = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"The {self.what} {name!r} names {path!r}, which cannot be imported: {exc}") from exc
        entry = found() if isinstance(found, type) else found
        if not isinstance(entry, self.base):
            raise ImproperlyConfigured(
                f"The {self.what} {name!r} names {path!r}, which is not a dbkeeper {self.base.__name__}.")
        if entry.format != name:
            raise ImproperlyConfigured(
                f"The {self.what} {name!r} names {path!r}, whose format is {entry.format!r}: the two must be the same."
            )
        return entry


@functools.lru_cache(maxsize=16)
def _load(registry: Registry, items: tuple) -> tuple:
    # Keyed on the registry's paths themselves, so a change of settings (tests) is seen.
    return tuple(registry.instantiate(name, path) for name, path in items)
