"""dbkeeper's own statements on a PostgreSQL server for the database manager:
the facts of each database, and create, copy (by template or streamed),
rename and drop. The rules (who may, what is refused) are in service.py;
this module only runs what it is told, with the target's own role."""

import logging
import subprocess
import time

from psycopg import errors as pgerrors
from psycopg import sql

from ..errors import DbkeeperError
from ..messages import N_
from ..procs import Tool, pg_tool

log = logging.getLogger(__name__)

# Ending the other sessions and creating the copy are retried this often:
# an application may connect again between the two.
END_ATTEMPTS = 20


def databases(conn) -> list[dict]:
    """Every database of the server the connection is on, with its facts."""
    rows = conn.execute(
        "SELECT d.datname, pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
        "d.datistemplate, d.datallowconn, "
        "CASE WHEN has_database_privilege(d.datname, 'CONNECT') THEN pg_database_size(d.datname) END, "
        "(SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid()) "
        "FROM pg_database d ORDER BY d.datname"
    ).fetchall()
    return [{"name": name, "owner": owner, "encoding": encoding, "collate": collate, "ctype": ctype,
             "is_template": bool(template), "allows_connections": bool(allow), "size": size,
             "connections": int(connections)}
            for name, owner, encoding, collate, ctype, template, allow, size, connections in rows]


def exists(conn, name) -> bool:
    return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def facts(conn, name) -> dict | None:
    for row in databases(conn):
        if row["name"] == name:
            return row
    return None


def sessions(conn, name) -> int:
    """How many sessions other than ours are connected to ``name``."""
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                        (name,)).fetchone()[0]


def end_sessions(conn, name) -> int:
    rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


def _pg_error(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def create(conn, name, owner="", encoding="", locale="", template="template0", collate="", ctype="") -> None:
    """CREATE DATABASE from ``template`` (an empty one by default); ``locale``
    sets both LC_COLLATE and LC_CTYPE, ``collate``/``ctype`` one each."""
    collate, ctype = collate or locale, ctype or locale
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    if encoding:
        statement += sql.SQL(" ENCODING {}").format(sql.Literal(encoding))
    if collate:
        statement += sql.SQL(" LC_COLLATE {}").format(sql.Literal(collate))
    if ctype:
        statement += sql.SQL(" LC_CTYPE {}").format(sql.Literal(ctype))
    if owner:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    try:
        conn.execute(statement)
    except pgerrors.Error as exc:
        raise DbkeeperError(N_("PostgreSQL refused to create the database %(name)s: %(error)s"), code="bad_request",
                            params={"name": name, "error": _pg_error(exc)}) from exc
    log.info("created database %s", name)


def copy_by_template(conn, source, name, end_others=True, strategy="", check_cancel=None) -> None:
    """CREATE DATABASE ``name`` TEMPLATE ``source``: the source must have no
    other session, so they are ended first (again if one came back) when
    ``end_others``; else an open session is refused with a sentence."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(source))
    if strategy:
        statement += sql.SQL(" STRATEGY {}").format(sql.Literal(strategy.lower()))
    _run_alone(conn, statement, source, end_others, check_cancel,
               in_use=N_("The database %(name)s could not be copied: other sessions kept using it (%(error)s)."),
               refused=N_("PostgreSQL refused to copy %(name)s: %(error)s"), refused_code="copy_failed")
    log.info("copied database %s to %s by template", source, name)


def give_owner(conn, name, owner) -> None:
    """The copy belongs to the source's owner when the target's role may say so."""
    try:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner)))
    except pgerrors.Error:
        log.warning("could not give database %s to %s; it stays with the role that created it", name, owner)


def copy_streamed(url, source, name, check_cancel=None) -> None:
    """``pg_dump -Fc source | pg_restore -d name``, the one writing straight
    into the other (no file, no copy through this process). ``name`` exists
    and is empty."""
    env = url.libpq_env()
    dump = Tool([pg_tool("pg_dump"), "-Fc", "--no-password", f"--dbname={source}"], env=env,
                stdout=subprocess.PIPE)
    try:
        restore = Tool([pg_tool("pg_restore"), "--no-password", "--exit-on-error", f"--dbname={name}"], env=env,
                       stdin=dump.proc.stdout)
    except BaseException:
        dump.kill()
        raise
    dump.proc.stdout.close()  # pg_restore holds it now: pg_dump sees it go if pg_restore stops
    try:
        # Tool.wait ends the moment the tool does; the cancel is checked meanwhile.
        for tool in (restore, dump):
            while True:
                try:
                    tool.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if check_cancel:
                        check_cancel()
    except BaseException:
        restore.kill()
        dump.kill()
        raise
    dumped, restored = dump.wait(), restore.wait()
    if dumped != 0 or restored != 0:
        tool, code, errors = ("pg_dump", dumped, dump.errors()) if dumped != 0 else \
            ("pg_restore", restored, restore.errors())
        raise DbkeeperError(N_("%(tool)s failed (exit code %(code)s): %(error)s"), code="copy_failed",
                            params={"tool": tool, "code": code, "error": errors or "no error output"})
    log.info("copied database %s to %s with pg_dump | pg_restore", source, name)


def rename(conn, old, new, end_others=True) -> None:
    statement = sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new))
    _run_alone(conn, statement, old, end_others,
               in_use=N_("The database %(name)s could not be renamed: other sessions kept using it (%(error)s)."),
               refused=N_("PostgreSQL refused to rename %(name)s: %(error)s"), refused_code="bad_request")
    log.info("renamed database %s to %s", old, new)


def _run_alone(conn, statement, name, end_others, check_cancel=None, *, in_use, refused, refused_code) -> None:
    """Run ``statement``, which needs the database ``name`` to have no other
    session: they are ended first (again if one came back) when
    ``end_others``; else an open session is refused with ``in_use``. A
    statement PostgreSQL refuses otherwise is ``refused`` (code
    ``refused_code``)."""
    for attempt in range(END_ATTEMPTS):
        if check_cancel:
            check_cancel()
        if end_others:
            end_sessions(conn, name)
        try:
            conn.execute(statement)
            return
        except pgerrors.ObjectInUse as exc:
            if not end_others or attempt == END_ATTEMPTS - 1:
                raise DbkeeperError(in_use, code="sessions_open",
                                    params={"name": name, "error": _pg_error(exc)}) from exc
            time.sleep(0.1)
        except pgerrors.Error as exc:
            raise DbkeeperError(refused, code=refused_code, params={"name": name, "error": _pg_error(exc)}) from exc


def drop(conn, name) -> None:
    try:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except pgerrors.Error as exc:
        raise DbkeeperError(N_("PostgreSQL refused to drop %(name)s: %(error)s"), code="drop_failed",
                            params={"name": name, "error": _pg_error(exc)}) from exc
    log.info("dropped database %s", name)
