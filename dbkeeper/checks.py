"""Django system checks (``manage.py check``) for a project that runs dbkeeper.

A restore of a PostgreSQL database renames the restored copy into place and
ends the sessions of the database it replaces. A connection Django keeps
between requests (``CONN_MAX_AGE``) is then dead, and without
``CONN_HEALTH_CHECKS`` the first request of each thread that reuses it fails
with a server error. A SQLite file is restored in place, so the connections to
it stay good: SQLite aliases are not warned about.
"""

from django.conf import settings
from django.core import checks

from . import conf

TAG = "dbkeeper"
ALIAS_PREFIX = "alias:"


def restorable_aliases(targets) -> dict:
    """Alias -> names of the targets that restore it (``"alias:NAME"`` in
    ``DBKEEPER["TARGETS"]``; a target given as a dict is searched for such a value)."""
    found = {}
    if not isinstance(targets, dict):
        return found
    for name, spec in targets.items():
        specs = spec.values() if isinstance(spec, dict) else [spec]
        for value in specs:
            if isinstance(value, str) and value.strip().startswith(ALIAS_PREFIX):
                found.setdefault(value.strip()[len(ALIAS_PREFIX):], []).append(str(name))
    return found


def kept_connection_warnings(databases: dict, targets, control_alias: str = "") -> list:
    warnings = []
    for alias, names in sorted(restorable_aliases(targets).items()):
        db = databases.get(alias)
        if db is None or alias == control_alias or str(db.get("ENGINE", "")).endswith("sqlite3"):
            continue  # not restorable (resolving it fails with its own sentence), or restored in place
        max_age = db.get("CONN_MAX_AGE", 0)
        if (max_age is None or max_age > 0) and db.get("CONN_HEALTH_CHECKS") is not True:
            kept = "for ever (CONN_MAX_AGE = None)" if max_age is None else f"for {max_age} s (CONN_MAX_AGE)"
            warnings.append(checks.Warning(
                f"DATABASES[{alias!r}] keeps its connections {kept} without CONN_HEALTH_CHECKS = True, "
                f"and dbkeeper restores it (target {', '.join(repr(n) for n in names)}).",
                hint=(f"A restore ends the connections to the database it replaces: the first request of each "
                      f"thread that reuses one then fails with a server error. Set "
                      f"DATABASES[{alias!r}][\"CONN_HEALTH_CHECKS\"] = True so that Django checks a kept "
                      f"connection before reusing it."),
                obj=f"DATABASES[{alias!r}]",
                id="dbkeeper.W001",
            ))
    return warnings


@checks.register(TAG)
def check_kept_connections(app_configs=None, **kwargs):
    return kept_connection_warnings(settings.DATABASES, conf.get("TARGETS"), conf.control_alias())
