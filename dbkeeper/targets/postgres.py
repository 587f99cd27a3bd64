"""A PostgreSQL database as a restore target. Scratch and pre-restore copies
are sibling databases on the same server (``NAME__dbk_scratch_…``,
``NAME__prerestore_…``); the swap is two renames."""

import logging
import time

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql
from django.utils import timezone

from ..errors import TargetError
from ..messages import N_
from .base import Target
from .pg_swap import swap_when_quiet

log = logging.getLogger(__name__)

MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names


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

    def __init__(self, url, spec="", template_from=None):
        super().__init__(url, spec)
        # The live target whose encoding and locale a scratch copy takes.
        self._template_from = template_from

    # -- connections ---------------------------------------------------------
    def connect(self, dbname=None, **kwargs):
        """An autocommit connection to this database (or to ``dbname`` on the same server)."""
        try:
            return psycopg.connect(**self.url.connect_kwargs(dbname), autocommit=True, connect_timeout=10, **kwargs)
        except psycopg.OperationalError as exc:
            raise TargetError(f"Cannot connect to {self.url.with_name(dbname or self.name).display()}: {_first_line(exc)}") from exc

    def _admin(self):
        """A connection to the server's maintenance database, for CREATE/ALTER/DROP DATABASE."""
        last = None
        for db in ("postgres", "template1"):
            try:
                return self.connect(db)
            except TargetError as exc:
                last = exc
        raise last

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
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'"
            ).fetchall()
        return {f"{schema}.{table}" for schema, table in rows}

    def existing_roles(self) -> set[str]:
        with self._admin() as conn:
            return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}

    def server_version_num(self) -> int:
        with self._admin() as conn:
            return conn.info.server_version

    # -- scratch, swap, drop -------------------------------------------------
    def scratch(self, operation_id: str) -> "PostgresTarget":
        short = operation_id.rsplit("_", 1)[-1][:12]
        return PostgresTarget(self.url.with_name(sibling_name(self.name, f"dbk_scratch_{short}")), template_from=self)

    def prerestore_name(self, operation_id: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d_%H%M%S")
        return sibling_name(self.name, f"prerestore_{stamp}")

    def create(self) -> None:
        options = sql.SQL("")
        with self._admin() as conn:
            model = self._template_from.name if self._template_from else None
            if model and self._exists(conn, model):
                # Same encoding and locale as the database it will replace.
                enc, collate, ctype = conn.execute(
                    "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database WHERE datname = %s",
                    (model,),
                ).fetchone()
                options = sql.SQL(" ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                    sql.Literal(enc), sql.Literal(collate), sql.Literal(ctype)
                )
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(self.name)) + options)
        log.info("created database %s", self.name)

    def drop(self) -> None:
        self._drop(self.name)

    def drop_named(self, name: str) -> None:
        if not is_sibling(self.name, name):
            raise TargetError(N_("%(name)s is not a scratch or pre-restore copy of %(live)s; it was not dropped."),
                              params={"name": name, "live": self.name})
        self._drop(name)

    def _drop(self, name):
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        log.info("dropped database %s", name)

    def swap_in(self, scratch: "PostgresTarget", prerestore_name: str) -> str | None:
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
        raise TargetError(f"The live database {live} could not be taken aside: other sessions kept connecting to it.")


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


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
