"""The role a backup's content runs as.

When the target's role is privileged (a superuser, CREATEROLE, a member of
pg_execute_server_program...), the backup's SQL must not run with its rights:
``SET ROLE`` is no boundary (the SQL can ``RESET ROLE``), so the session user
itself must be unprivileged. dbkeeper then creates a throwaway LOGIN role for
the one operation, a member of no role, with a random password that only the
client tools' environment carries; the scratch database belongs to it while
the content runs, and dbkeeper hands everything over afterwards (pghandover).

Its name comes from the scratch database's name (``dbkeeper_op_<id>``), so
whoever drops a scratch database left behind (the watchdog, a stopping
worker) drops its role too.
"""

import base64
import hashlib
import hmac
import logging
import os
import secrets
from datetime import timedelta

import psycopg
from django.utils import timezone
from psycopg import sql

from ..dburl import DbUrl
from ..errors import TargetError
from ..messages import N_
from .pgroles import describe, privileges

log = logging.getLogger(__name__)

SCRATCH_MARKER = "__dbk_scratch_"
ROLE_PREFIX = "dbkeeper_op_"
TRUST_SUPERUSER = "superuser"


def role_name_for(scratch_name: str) -> str | None:
    """The throwaway role of a scratch database (None if the name is not a scratch's)."""
    _, found, short = scratch_name.rpartition(SCRATCH_MARKER)
    return f"{ROLE_PREFIX}{short}" if found and short else None


def scram_verifier(password: str, iterations=4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password``: the
    CREATE ROLE statement then never holds the password itself (the server's
    log may show statements)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def needs_throwaway_role(conn, target) -> bool:
    """Whether the backup's content must run as a throwaway role rather than
    the target's own (``conn`` is the target's connection). Refuses a target
    whose role is privileged but may not create roles."""
    if target.trust == TRUST_SUPERUSER:
        return False
    priv = privileges(conn)
    if not priv.privileged:
        return False
    if priv.can_create_roles:
        return True
    raise TargetError(
        N_("The target's role %(role)s is %(what)s but may not create roles, so dbkeeper cannot run the "
           "backup's SQL as an unprivileged role. Connect as a role without those privileges (or one with "
           "CREATEROLE), or mark the target as trusting its backups fully (trust: superuser)."),
        code="privileged_target",
        params={"role": priv.role, "what": describe(priv)},
    )


class ThrowawayRole:
    """A LOGIN role for one restore, member of no role."""

    def __init__(self, name: str, password: str = ""):
        self.name = name
        self.password = password

    @classmethod
    def create(cls, conn, name: str) -> "ThrowawayRole":
        role = cls(name, secrets.token_urlsafe(32))
        drop_role(conn, name)  # one left by an earlier attempt of the same operation
        until = (timezone.now() + timedelta(days=2)).isoformat()
        conn.execute(sql.SQL(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
            "PASSWORD {} VALID UNTIL {}").format(
                sql.Identifier(name), sql.Literal(scram_verifier(role.password)), sql.Literal(until)))
        if not privileges(conn).superuser:
            # A CREATEROLE role must be a member of the new role to give it a
            # database and take its objects back; the reverse never holds.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
        log.info("created throwaway role %s for the backup's content", name)
        return role

    def url(self, target_url: DbUrl, dbname: str) -> DbUrl:
        """Over TCP: peer authentication on the local socket would refuse it."""
        host = target_url.host if target_url.host and not target_url.host.startswith("/") else "localhost"
        options = {k: v for k, v in target_url.options.items() if k in ("sslmode",)}
        return DbUrl("postgresql", dbname, self.name, self.password, host, target_url.port, options)

    def check_reachable(self, target_url: DbUrl, dbname: str) -> None:
        """Connect once, before anything runs, so that pg_hba.conf refusing the
        role stops the restore with a sentence that says what to allow."""
        url = self.url(target_url, dbname)
        try:
            psycopg.connect(**url.connect_kwargs(), connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            raise TargetError(
                N_("The database server refused dbkeeper's temporary restore role %(role)s: %(error)s. dbkeeper "
                   "runs a backup's SQL as such a role, never as the privileged role %(user)s. Allow it a password "
                   "connection over TCP in pg_hba.conf, for example with the line \"%(line)s\", reload the server "
                   "and start the restore again. Nothing was restored."),
                code="restore_role_refused",
                params={"role": self.name, "error": _first_line(exc), "user": target_url.user or "(default)",
                        "line": f"host all all {_hba_address(url.host)} scram-sha-256"},
            ) from exc


def drop_role(conn, name: str) -> None:
    """Drop a throwaway role and whatever it still owns or was granted in the
    database ``conn`` is connected to (its scratch database is dropped first)."""
    if not name or not name.startswith(ROLE_PREFIX):
        return
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    if not exists:
        return
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,))
    try:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    except psycopg.Error:
        log.warning("DROP OWNED BY %s failed; dropping the role anyway", name, exc_info=True)
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
    log.info("dropped throwaway role %s", name)


def _hba_address(host):
    return "samehost" if host in ("localhost", "127.0.0.1", "::1") else "samenet"


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
