"""The PostgreSQL swap without errors for the running application.

Renaming a database needs it to have no sessions, so the application's kept
connections to the live database must end. Ended at the wrong moment (in the
middle of a request) they fail that request, and a connection attempt while the
live database is refused or renamed fails too. When the target's role may lock
``pg_database`` (a superuser), the swap is done so that neither happens:

- in one transaction that holds ``pg_database`` locked: a new connection to any
  database of the server reads ``pg_database`` while it starts, so it waits for
  the swap and then finds the restored database under the live name;
- a session on the live database is ended only once it has been idle for a
  moment (``QUIET_IDLE_SECONDS``: the application is between requests, and a
  kept connection is checked before reuse, ``CONN_HEALTH_CHECKS``); after
  ``QUIET_WAIT_SECONDS`` the sessions still busy are ended anyway;
- then both renames, and the commit lets the waiting connections in.
"""

import logging
import time

from psycopg import errors as pgerrors
from psycopg import sql

log = logging.getLogger(__name__)

QUIET_IDLE_SECONDS = 0.2
QUIET_WAIT_SECONDS = 5
# pg_terminate_backend waits this long (ms) for the session to be gone (PostgreSQL 14 and later).
END_WAIT_MS = 5000
# Waiting for the lock queues every new connection behind it: give up soon
# (another session holds pg_database, a CREATE DATABASE for example).
LOCK_TIMEOUT_MS = 2000


def swap_when_quiet(conn, live: str, new: str, prerestore_name: str) -> bool:
    """Rename ``live`` to ``prerestore_name`` and ``new`` to ``live`` as above.
    ``conn`` is an autocommit connection to another database of the server.
    Returns False, having changed nothing, if the role may not lock pg_database
    or another session holds it too long."""
    end = "SELECT pg_terminate_backend(%s, {})".format(END_WAIT_MS) if conn.info.server_version >= 140000 \
        else "SELECT pg_terminate_backend(%s)"
    started = time.monotonic()
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT_MS)))
            conn.execute("LOCK TABLE pg_catalog.pg_database IN ACCESS EXCLUSIVE MODE")
            while True:
                # Activity is read once per transaction unless the snapshot is cleared.
                conn.execute("SELECT pg_stat_clear_snapshot()")
                sessions = conn.execute(
                    "SELECT pid, state = 'idle' AND state_change < clock_timestamp() - make_interval(secs => %s) "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (QUIET_IDLE_SECONDS, live),
                ).fetchall()
                if not sessions:
                    break
                late = time.monotonic() - started > QUIET_WAIT_SECONDS
                for pid, quiet in sessions:
                    if quiet or late:
                        conn.execute(end, (pid,))
                time.sleep(0.005)
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(live), sql.Identifier(prerestore_name)))
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(new), sql.Identifier(live)))
    except pgerrors.InsufficientPrivilege:
        log.info("not allowed to lock pg_database; %s is swapped by ending its sessions and refusing new ones", live)
        return False
    except pgerrors.LockNotAvailable:
        log.warning("pg_database stayed locked by another session; %s is swapped by ending its sessions "
                    "and refusing new ones", live)
        return False
    log.info("swapped %s into %s in %.2f s while new connections waited", new, live, time.monotonic() - started)
    return True
