"""The check of a target when it is added: can dbkeeper reach it, and may it
restore there? What it found is reported (server version, whether the role
may create databases, whether it is a superuser); what makes a restore
impossible refuses the target with the reason, before anyone relies on it."""

import logging
import os

from ..errors import TargetError
from ..messages import N_

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10


def probe(target) -> dict:
    """What was found at ``target``, or TargetError saying why it cannot be used."""
    if target.kind == "postgresql":
        return probe_postgresql(target)
    if target.kind == "sqlite":
        return probe_sqlite(target)
    return {}


def probe_sqlite(target) -> dict:
    folder = target.path.parent
    if not folder.is_dir():
        raise TargetError(N_("The folder %(folder)s does not exist: create it first (a restore writes the "
                             "database file and its copies there)."), code="target_unreachable",
                          params={"folder": str(folder)})
    # The swap writes a scratch file and a pre-restore copy beside the database.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TargetError(N_("dbkeeper may not write in the folder %(folder)s (a restore writes the database "
                             "file and its copies there)."), code="target_not_writable", params={"folder": str(folder)})
    exists = target.path.exists()
    if exists and not os.access(target.path, os.R_OK | os.W_OK):
        raise TargetError(N_("dbkeeper may not read and write the file %(path)s."), code="target_not_writable",
                          params={"path": str(target.path)})
    return {"database_exists": exists}


def probe_postgresql(target) -> dict:
    import psycopg

    url = target.url
    conn, database_exists = None, True
    try:
        try:
            conn = psycopg.connect(**url.connect_kwargs(), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            if not _database_missing(exc):
                raise
            # The database does not exist yet (a restore creates it): the server and the role still count.
            database_exists = False
            conn = psycopg.connect(**url.connect_kwargs("postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.OperationalError as exc:
        raise TargetError(N_("Cannot connect to %(target)s: %(error)s"), code="target_unreachable",
                          params={"target": url.display(), "error": _first_line(exc)}) from None
    with conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        role, createdb, superuser = conn.execute(
            "SELECT rolname, rolcreatedb, rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    found = {"server_version": version.split()[0], "role": role, "can_create_databases": bool(createdb or superuser),
             "superuser": bool(superuser), "database_exists": database_exists}
    log.info("target %s checked: %s", url.display(), found)
    if not found["can_create_databases"]:
        # A restore writes into a new scratch database, then renames it into place.
        raise TargetError(N_("The role %(role)s may not create databases, and a restore writes into a new scratch "
                             "database: give it that right (ALTER ROLE %(role)s CREATEDB) or use another role."),
                          code="target_cannot_create", params={"role": role})
    return found


def _database_missing(exc) -> bool:
    import psycopg

    state = getattr(getattr(exc, "diag", None), "sqlstate", None)
    return state == psycopg.errors.InvalidCatalogName.sqlstate or "does not exist" in str(exc) and "database" in str(exc)


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or ["?"])[0].strip()


def describe(found) -> str:
    """What the check found, in a line for the command line (English, like the rest of its output)."""
    if "server_version" in found:
        parts = [f"PostgreSQL {found['server_version']}", f"role {found['role']}"
                 + (" (superuser)" if found["superuser"] else ", may create databases, not a superuser")]
    else:
        parts = []
    parts.append("the database exists" if found.get("database_exists") else "no database there yet: a restore creates it")
    return "; ".join(parts)
