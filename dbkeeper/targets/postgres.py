"""A PostgreSQL database as a restore target. Scratch and pre-restore copies
are sibling databases on the same server (``NAME__dbk_scratch_…``,
``NAME__prerestore_…``); the swap is two renames."""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from django.utils import timezone

from ..errors import TargetError
from ..messages import N_
from .base import Target
from .pg_swap import swap_when_quiet
from .pgscratch import ThrowawayRole, drop_role, needs_throwaway_role, role_name_for

log = logging.getLogger(__name__)

MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names
# Connections that count a restored copy's rows side by side.
COUNTING_CONNECTIONS = 3


def sibling_name(name: str, suffix: str) -> str:
    """``name__suffix``, shortening ``name`` so the whole stays a valid identifier."""
    room = MAX_IDENTIFIER - len(suffix) - 2
    base = name.encode("utf-8")[:room].decode("utf-8", "ignore")
    return f"{base}__{suffix}"


def is_sibling(live: str, name: str) -> bool:
    """True for the scratch and pre-restore copies of ``live`` (never ``live`` itself)."""
    for marker in ("__dbk_scratch_", "__prerestore_"):
        base, found, _ = name.rpartition(marker)
        if found and base and live.startswith(base):
            return True
    return False


class PostgresTarget(Target):
    kind = "postgresql"

    def __init__(self, url, spec="", template_from=None, trust="", owner="", extensions=()):
        super().__init__(url, spec)
        # The live target whose encoding, locale and identity a scratch copy takes.
        self._template_from = template_from
        # "superuser": the backup's content runs with the target's own rights (see pgscratch).
        self.trust = trust or ""
        # The role restored objects go to when the live database's owner is a superuser.
        self.owner = owner or ""
        # Extensions dbkeeper may create for a backup besides those of the live database.
        self.extensions = tuple(extensions or ())
        # The throwaway role the backup's content runs as (a scratch copy of a privileged target).
        self.runas: ThrowawayRole | None = None
        # (kind, schema, name) -> owner in the backup, noted by the engine for the hand-over.
        self.backup_owners = {}
        # (role, statement): the backup's ALTER DEFAULT PRIVILEGES FOR ROLE, re-applied by dbkeeper (pghandover).
        self.default_privileges = []

    # -- connections ---------------------------------------------------------
    @property
    def content_url(self):
        """Where the backup's content runs: as the throwaway role when there is one."""
        return self.runas.url(self.url, self.name) if self.runas else self.url

    def connect(self, dbname=None, **kwargs):
        """An autocommit connection to this database (as the role its content
        runs as), or to ``dbname`` on the same server."""
        url = self.content_url if dbname in (None, self.name) else self.url
        try:
            return psycopg.connect(**url.connect_kwargs(dbname), autocommit=True, connect_timeout=10, **kwargs)
        except psycopg.OperationalError as exc:
            raise self.connection_error(exc) from exc

    def admin_connection(self):
        """A connection with the target's own role to the server's maintenance
        database, for CREATE/ALTER/DROP DATABASE."""
        last = None
        for db in ("postgres", "template1"):
            try:
                return self._connect_as_target(db)
            except TargetError as exc:
                last = exc
        raise last

    _admin = admin_connection

    def admin_connect_scratch(self):
        """The target's own role on this (scratch) database, for dbkeeper's
        own statements only: search_path is pinned so that nothing the backup
        defined is picked up."""
        return self._connect_as_target(self.name, options="-c search_path=pg_catalog,pg_temp")

    def _connect_as_target(self, dbname, **kwargs):
        try:
            return psycopg.connect(**self.url.connect_kwargs(dbname), autocommit=True, connect_timeout=10, **kwargs)
        except psycopg.OperationalError as exc:
            raise self.connection_error(exc) from exc

    def connection_error(self, exc) -> TargetError:
        """The sentence for a failed connection: it names the target and its
        database as the user gave them, never the maintenance database
        (postgres, template1) or a scratch copy dbkeeper was opening, nor a
        password; a refused or missing password says how to give one."""
        live = self._template_from or self
        params = {"target": live.label(), "database": live.name, "error": _first_line(exc)}
        if _is_password_problem(str(exc)):
            params.update(add="dbkeeper target add NAME URL --password-stdin", env="PGPASSWORD", pgpass="~/.pgpass")
            return TargetError(N_("Cannot connect to the target %(target)s (database %(database)s): %(error)s. "
                                  "Give its password with %(add)s, in the %(env)s environment variable or in "
                                  "%(pgpass)s."), code="target_password", params=params)
        return TargetError(N_("Cannot connect to the target %(target)s (database %(database)s): %(error)s"),
                           code="target_unreachable", params=params)

    def label(self) -> str:
        """The target as the user named it: a configured name or alias with its
        address, or the address alone (the URL without its password)."""
        spec = self.spec or ""
        if spec and "://" not in spec:
            return f"{spec} ({self.display()})"
        return self.display()

    def libpq_env(self):
        return self.url.libpq_env()

    # -- facts ---------------------------------------------------------------
    def exists(self) -> bool:
        with self._admin() as conn:
            return self._exists(conn, self.name)

    @staticmethod
    def _exists(conn, name) -> bool:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def tables(self) -> set[str]:
        # As the content's role: the catalogs only, but nothing of a backup runs privileged.
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"
            ).fetchall()
        return {f"{schema}.{table}" for schema, table in rows}

    def row_counts(self) -> dict[str, int]:
        """count(*) of each ordinary table (as pg_dump's catalog counts them),
        as the target's own role with search_path pinned: nothing the backup
        defined runs. The tables are counted side by side, the largest first,
        on a few connections: one table's scan waits on the disk while
        another's uses a core."""
        options = "-c search_path=pg_catalog,pg_temp"
        with self._connect_as_target(self.name, options=options) as conn:
            rows = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%' "
                "ORDER BY c.relpages DESC, n.nspname, c.relname"
            ).fetchall()
            pending = list(rows)
            lock = threading.Lock()
            counts = {}

            def count_on(connection):
                while True:
                    with lock:
                        if not pending:
                            return
                        schema, name = pending.pop(0)
                    query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(sql.Identifier(schema),
                                                                            sql.Identifier(name))
                    counts[f"{schema}.{name}"] = connection.execute(query).fetchone()[0]

            helpers = min(COUNTING_CONNECTIONS - 1, max(0, len(rows) - 1))
            with ThreadPoolExecutor(max_workers=helpers or 1) as pool:
                def helper():
                    try:
                        extra = self._connect_as_target(self.name, options=options)
                    except TargetError as exc:  # no connection to spare: the others count its share
                        log.info("counting rows of %s on fewer connections: %s", self.name, exc.message)
                        return
                    with extra:
                        count_on(extra)

                started = [pool.submit(helper) for _ in range(helpers)]
                count_on(conn)
                for future in started:
                    future.result()
        return counts

    # -- scratch, swap, drop -------------------------------------------------
    def scratch(self, operation_id: str) -> "PostgresTarget":
        short = operation_id.rsplit("_", 1)[-1][:12]
        return PostgresTarget(self.url.with_name(sibling_name(self.name, f"dbk_scratch_{short}")), template_from=self,
                              trust=self.trust, owner=self.owner, extensions=self.extensions)

    def prerestore_name(self, operation_id: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d_%H%M%S")
        return sibling_name(self.name, f"prerestore_{stamp}")

    def on_same_server(self, name: str) -> "PostgresTarget":
        return PostgresTarget(self.url.with_name(name), self.spec, trust=self.trust, owner=self.owner,
                              extensions=self.extensions)

    def put_in_place(self, scratch: "PostgresTarget") -> None:
        """One rename, which PostgreSQL refuses if a database of this name
        appeared meanwhile: nothing is ever replaced."""
        if scratch.runas is not None:
            # Never put in place a database that still belongs to a throwaway role.
            self.finish_restore(scratch)
        with self._admin() as conn:
            _end_connections(conn, scratch.name)
            try:
                _rename(conn, scratch.name, self.name)
            except pgerrors.DuplicateDatabase:
                raise TargetError(N_("A database named %(name)s was created on the server meanwhile; the restored "
                                     "copy did not replace it."), code="exists", params={"name": self.name}) from None
        log.info("restored copy %s put in place as the new database %s", scratch.name, self.name)

    def create(self) -> None:
        """Create this database empty. A scratch copy takes the live database's
        encoding, locale and tablespace; when the target's role is privileged,
        it belongs to a throwaway role that the backup's content runs as."""
        options = sql.SQL("")
        with self._admin() as conn:
            model = self._template_from.name if self._template_from else None
            if model and self._exists(conn, model):
                enc, collate, ctype, tablespace = conn.execute(
                    "SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, t.spcname "
                    "FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE d.datname = %s",
                    (model,),
                ).fetchone()
                options = sql.SQL(" ENCODING {} LC_COLLATE {} LC_CTYPE {} TABLESPACE {}").format(
                    sql.Literal(enc), sql.Literal(collate), sql.Literal(ctype), sql.Identifier(tablespace)
                )
            role_name = role_name_for(self.name) if self._template_from is not None else None
            if role_name and needs_throwaway_role(conn, self):
                self.runas = ThrowawayRole.create(conn, role_name)
                options += sql.SQL(" OWNER {}").format(sql.Identifier(role_name))
            try:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(self.name)) + options)
                log.info("created database %s", self.name)
                if self.runas:
                    self.runas.check_reachable(self.url, self.name)
            except BaseException:
                if self.runas:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
                    drop_role(conn, self.runas.name)
                    self.runas = None
                raise

    def prepare_content(self, needs, progress=None) -> set:
        """Before the backup's content runs as the throwaway role: create the
        extensions it needs that only dbkeeper may create (pgneeds). Returns
        what the content must not create again."""
        if self.runas is None or self._template_from is None or not needs:
            return set()
        from .pgneeds import prepare_extensions

        return prepare_extensions(self._template_from, self, needs, progress)

    def finish_restore(self, scratch: "PostgresTarget", progress=None) -> None:
        """After the checks, before the swap: hand the scratch copy's objects to
        their owners, give it the live database's identity, and drop the
        throwaway role (pghandover)."""
        from .pghandover import hand_over

        try:
            hand_over(self, scratch, progress)
        except psycopg.Error as exc:
            raise TargetError(N_("dbkeeper could not hand the restored copy over to its owners: %(error)s"),
                              params={"error": _first_line(exc)}, code="hand_over_failed") from exc

    def drop(self) -> None:
        self._drop(self.name)

    def drop_named(self, name: str) -> None:
        if not is_sibling(self.name, name):
            raise TargetError(N_("%(name)s is not a scratch or pre-restore copy of %(live)s; it was not dropped."),
                              params={"name": name, "live": self.name})
        self._drop(name)

    def database_size(self, name: str) -> int | None:
        with self._admin() as conn:
            row = conn.execute("SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s",
                               (name,)).fetchone()
        return int(row[0]) if row else None

    def _drop(self, name):
        """Drop a database, and the throwaway role of a scratch copy with it."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            log.info("dropped database %s", name)
            role = role_name_for(name)
            if role:
                drop_role(conn, role)
        if name == self.name:
            self.runas = None

    def swap_in(self, scratch: "PostgresTarget", prerestore_name: str) -> str | None:
        if scratch.runas is not None:
            # Never swap in a database that still belongs to a throwaway role.
            self.finish_restore(scratch)
        live, new = self.name, scratch.name
        with self._admin() as conn:
            _end_connections(conn, new)
            if not self._exists(conn, live):
                _rename(conn, new, live)
                return None
            if swap_when_quiet(conn, live, new, prerestore_name):
                return prerestore_name
            can_block = _set_allow_connections(conn, live, False)
            try:
                self._take_live_aside(conn, live, prerestore_name)
                try:
                    _rename(conn, new, live)
                except Exception:
                    log.exception("swap of %s failed after the live database was moved aside; putting it back", live)
                    _rename(conn, prerestore_name, live)
                    raise
            finally:
                if can_block:
                    for name in (live, prerestore_name):
                        if self._exists(conn, name):
                            _set_allow_connections(conn, name, True)
        log.info("swapped %s into %s; previous kept as %s", new, live, prerestore_name)
        return prerestore_name

    @staticmethod
    def _take_live_aside(conn, live, prerestore_name):
        for attempt in range(20):
            _end_connections(conn, live)
            try:
                _rename(conn, live, prerestore_name)
                return
            except pgerrors.ObjectInUse:
                time.sleep(0.25)
        raise TargetError(N_("The live database %(name)s could not be taken aside: other sessions kept connecting to it."),
                          params={"name": live})


def _rename(conn, old, new):
    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))


def _end_connections(conn, name):
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def _set_allow_connections(conn, name, allow) -> bool:
    try:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(sql.Identifier(name), sql.Literal(allow)))
        return True
    except pgerrors.InsufficientPrivilege:
        log.warning("not allowed to block connections to %s; relying on ending them", name)
        return False


# libpq's words when the server wants a password it did not get or refused it.
_PASSWORD_PROBLEMS = ("no password supplied", "password authentication failed", "authentication failed for user")


def _is_password_problem(text: str) -> bool:
    return any(marker in text for marker in _PASSWORD_PROBLEMS)


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
