"""A temporary Django database alias for a scratch database, so that the host
project's migrations and models can be used on it while it is restored.

Django keeps its database settings in one dict shared by every thread. The
alias is added and removed by replacing that dict with a copy (never by
changing it in place), so another thread iterating over the aliases at the
same moment never sees it change under its feet.
"""

import contextlib
import logging
import secrets
import threading

from django.db import connections

log = logging.getLogger(__name__)

_lock = threading.Lock()
# Migrations of two scratch databases at once would share Django's app registry.
migrate_lock = threading.Lock()


def _replace_settings(change):
    with _lock:
        databases = dict(connections.settings)
        change(databases)
        connections.settings = databases


@contextlib.contextmanager
def temporary_alias(target, prefix="dbkeeper_scratch"):
    """Yield the name of a Django alias pointing at ``target`` (a Target);
    the alias and its connection are gone afterwards."""
    alias = f"{prefix}_{secrets.token_hex(4)}"
    # configure_settings fills in Django's defaults (it insists on a "default" entry).
    # As the role a backup's content runs as (a throwaway one for a privileged PostgreSQL target).
    url = getattr(target, "content_url", target.url)
    db_settings = connections.configure_settings({"default": {}, alias: url.django_settings()})[alias]
    if target.kind == "sqlite":
        # One writer, and a file that stays self-contained (no -wal beside it) for the swap.
        db_settings["OPTIONS"].setdefault("timeout", 30)
    _replace_settings(lambda databases: databases.__setitem__(alias, db_settings))
    try:
        yield alias
    finally:
        try:
            connections[alias].close()
        except Exception:
            log.warning("could not close the connection to %s", target.display(), exc_info=True)
        with contextlib.suppress(AttributeError):
            del connections[alias]
        _replace_settings(lambda databases: databases.pop(alias, None))


def migrate(alias):
    """Apply every migration of the host project to ``alias``. The router decides
    which apps belong there (dbkeeper's own never do)."""
    from django.core.management import call_command

    with migrate_lock:
        call_command("migrate", database=alias, interactive=False, verbosity=0, skip_checks=True)
