"""Running pg_dump for a backup, the parts every PostgreSQL maker shares.

- The pg_dump used must be at least the server's major version (an older one
  refuses, or worse, misses what it does not know): checked before anything
  is recorded, with a sentence naming the version needed.
- Exact row counts: a REPEATABLE READ transaction exports its snapshot and
  stays open while pg_dump runs with ``--snapshot``; it counts every table
  in that snapshot while pg_dump copies (the two overlap instead of adding
  up), so the counts are of exactly the rows pg_dump writes.
- Progress: tables weighted by their size on disk; pg_dump --verbose says
  which table it starts, pg_stat_progress_copy how many of its rows the
  server has sent (pg_dump's backend is found by its application_name).
"""

import fcntl
import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ...errors import DbkeeperError
from ...messages import N_
from ...procs import Tool, pg_tool
from ...streams import human_size

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# The pipe from pg_dump, enlarged from Linux's 64 KiB so that pg_dump goes on
# writing while a chunk is hashed and stored (the largest size an unprivileged
# process may set, by default).
PIPE_SIZE = 1024 * 1024
POLL_SECONDS = 0.5
MAX_LIVE_FRACTION = 0.99
MIN_WEIGHT = 8192  # an empty table still takes a moment


# -- versions -------------------------------------------------------------------

def major_of_server(version_num: int) -> tuple:
    """(15,) for 150004; (9, 6) for 90624: before 10, the major was two numbers."""
    if version_num >= 100000:
        return (version_num // 10000,)
    return (version_num // 10000, version_num // 100 % 100)


def parse_tool_version(text: str) -> tuple[tuple, str]:
    """The major version and the full one from ``pg_dump --version``
    ("pg_dump (PostgreSQL) 15.4 (Debian 15.4-1)")."""
    match = re.search(r"\)\s*(\d[\w.]*)", text) or re.search(r"(\d[\w.]*)", text)
    if not match:
        raise DbkeeperError(N_("The version of %(tool)s cannot be read from %(output)s."), code="tool_version",
                            params={"tool": "pg_dump", "output": repr(text.strip()[:80])})
    full = match.group(1)
    numbers = [int(n) for n in re.findall(r"\d+", full)[:2]] + [0]
    major = (numbers[0],) if numbers[0] >= 10 else (numbers[0], numbers[1])
    return major, full


def version_text(major: tuple) -> str:
    return ".".join(str(n) for n in major)


def check_tool_version(tool: str, client_major: tuple, server_major: tuple) -> None:
    """An older pg_dump than the server is refused, saying which one is needed."""
    if tuple(client_major) < tuple(server_major):
        needed = version_text(server_major)
        raise DbkeeperError(
            N_("The server runs PostgreSQL %(server)s, but this machine's %(tool)s is version %(client)s: "
               "install %(tool)s %(server)s or newer (on Debian or Ubuntu, the package postgresql-client-%(server)s)."),
            code="pg_dump_too_old",
            params={"server": needed, "tool": tool, "client": version_text(client_major)},
        )


def tool_version(name: str) -> tuple[str, tuple, str]:
    """(path, major, full version) of an installed PostgreSQL client tool.
    Asked once per process and tool file: the check before a backup and the
    backup itself need not both start ``pg_dump --version``."""
    path = pg_tool(name)
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        stamp = None
    known = _VERSIONS.get(path)
    if known is not None and known[0] == stamp:
        return path, *known[1]
    output = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    major, full = parse_tool_version(output)
    _VERSIONS[path] = (stamp, (major, full))
    return path, major, full


_VERSIONS = {}  # tool path -> (its mtime, (major, full version))


def check_pg_dump_for(target, tool="pg_dump") -> str:
    """Check the tool against the target's server; returns the tool's path."""
    path, client, _ = tool_version(tool)
    with target.connect() as conn:
        server = conn.info.server_version
    check_tool_version(tool, client, major_of_server(server))
    return path


# -- the snapshot -------------------------------------------------------------------

@dataclass
class Table:
    oid: int
    name: str  # schema.table, as pg_dump --verbose names it
    weight: int
    estimate: int = 0  # pg_class.reltuples, until the exact count is there
    rows: int | None = None  # exact, in the snapshot


class Snapshot:
    """An open REPEATABLE READ transaction whose snapshot pg_dump shares."""

    TABLES = (
        "SELECT c.oid, n.nspname, c.relname, pg_total_relation_size(c.oid), c.reltuples FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%' ORDER BY 2, 3"
    )

    def __init__(self, target):
        self.target = target
        self.conn = None
        self.id = ""
        self.server_version = ""
        self.server_version_num = 0

    def __enter__(self):
        self.conn = self.target.connect(application_name="dbkeeper-snapshot")
        try:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # The counts run beside pg_dump, which they must not slow: one
            # process, not parallel workers, and no JIT compilation for a count.
            version = self.conn.info.server_version
            if version >= 90600:  # parallel queries came with 9.6, JIT with 11
                self.conn.execute("SET LOCAL max_parallel_workers_per_gather = 0"
                                  + ("; SET LOCAL jit = off" if version >= 110000 else ""))
            self.id = self.conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            self.server_version = self.conn.info.parameter_status("server_version") or ""
            self.server_version_num = self.conn.info.server_version
        except BaseException:
            self.conn.close()
            raise
        return self

    def tables(self) -> list[Table]:
        rows = self.conn.execute(self.TABLES).fetchall()
        return [Table(oid, f"{schema}.{name}", max(MIN_WEIGHT, int(size or 0)), max(0, int(estimate or 0)))
                for oid, schema, name, size, estimate in rows]

    def count_rows(self, tables, progress=None) -> None:
        """Exact row counts, in the snapshot pg_dump uses. Run beside pg_dump
        (run_dump's ``alongside``); ``stop()`` interrupts it."""
        for table in tables:
            schema, _, name = table.name.partition(".")
            query = sql.SQL("SELECT count(*) FROM ONLY {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
            try:
                table.rows = self.conn.execute(query).fetchone()[0]
            except psycopg.Error as exc:
                raise DbkeeperError(N_("The table %(table)s cannot be read: %(error)s."), code="backup_failed",
                                    params={"table": table.name, "error": _first_line(exc)}) from exc
            if progress is not None:
                progress.check_cancel()

    def stop(self):
        """Interrupt a count running in another thread (the dump failed or was cancelled)."""
        try:
            self.conn.cancel()
        except psycopg.Error:
            pass

    def fetch(self, query, params=()):
        return self.conn.execute(query, params).fetchall()

    def __exit__(self, *exc):
        try:
            self.conn.execute("ROLLBACK")
        except psycopg.Error:
            pass
        finally:
            self.conn.close()


# -- following pg_dump ----------------------------------------------------------------

class DumpTracker:
    """How much of the tables' data pg_dump has written: finished tables whole,
    the table being copied by the share of its rows the server has sent."""

    _STARTS = re.compile(r'^pg_dump: dumping contents of table "(.*)"$')

    def __init__(self, tables, extra=0):
        self.by_name = {t.name: t for t in tables}
        self.by_oid = {t.oid: t for t in tables}
        self.data_total = sum(t.weight for t in tables)
        # ``extra``: work that follows the dump (an Odoo filestore), in bytes.
        self.total = self.data_total + extra
        self.finished = set()
        self.current = None
        self.fraction = 0.0
        self._lock = threading.Lock()

    def on_line(self, line):
        match = self._STARTS.match(line)
        if not match:
            return
        with self._lock:
            if self.current is not None:
                self.finished.add(self.current)
            table = self.by_name.get(match.group(1))
            self.current = table.name if table else None
            self.fraction = 0.0

    def on_copy(self, relid, tuples):
        with self._lock:
            table = self.by_oid.get(relid)
            if table is None or table.name in self.finished:
                return
            if self.current != table.name:
                if self.current is not None:
                    self.finished.add(self.current)
                self.current, self.fraction = table.name, 0.0
            rows = table.rows if table.rows is not None else table.estimate
            if rows:
                self.fraction = max(self.fraction, min(MAX_LIVE_FRACTION, tuples / rows))

    def done(self) -> int:
        with self._lock:
            done = sum(self.by_name[name].weight for name in self.finished)
            if self.current is not None:
                done += self.by_name[self.current].weight * self.fraction
        return int(done)


class CopyWatch:
    """pg_stat_progress_copy of one backend, found by its application_name."""

    QUERY = ("SELECT p.relid, p.tuples_processed FROM pg_stat_progress_copy p "
             "JOIN pg_stat_activity a ON a.pid = p.pid WHERE a.application_name = %s")

    def __init__(self, target, application_name):
        self.application_name = application_name
        self.conn = None
        try:
            self.conn = target.connect(application_name="dbkeeper-progress")
            self.enabled = self.conn.info.server_version >= 140000
        except DbkeeperError:
            log.warning("cannot watch the progress of %s; progress moves table by table", application_name)
            self.enabled = False

    def read(self):
        if not self.enabled:
            return []
        try:
            return self.conn.execute(self.QUERY, (self.application_name,)).fetchall()
        except psycopg.Error:
            log.warning("reading pg_stat_progress_copy failed; progress moves table by table", exc_info=True)
            self.enabled = False
            return []

    def close(self):
        if self.conn is not None:
            self.conn.close()


def application_name(operation_id: str) -> str:
    return f"dbkeeper-backup-{operation_id or 'cli'}"[:63]


def run_dump(argv, target, sink, progress, tracker: DumpTracker, operation_id="", what="pg_dump",
             snapshot: Snapshot | None = None) -> int:
    """Run ``argv`` (pg_dump writing to stdout), passing its output to
    ``sink(chunk)`` and following its progress; returns the bytes written.
    With ``snapshot``, the tables' rows are counted in it meanwhile. A
    cancel, a failed write, a failed count or a non-zero exit raises (the
    tool is killed, the count interrupted)."""
    app = application_name(operation_id)
    env = {**target.libpq_env(), "PGAPPNAME": app}
    progress.set_total(tracker.total or 1, "bytes")
    tool = Tool(argv, env=env, stdout=subprocess.PIPE, on_stderr_line=tracker.on_line, tail_lines=60)
    enlarge_pipe(tool.proc.stdout)
    written = 0
    failure = []

    def pump():
        nonlocal written
        try:
            for chunk in iter(lambda: tool.proc.stdout.read(CHUNK), b""):
                sink(chunk)
                written += len(chunk)
        except BaseException as exc:  # a full disk, a storage error: stop the tool
            failure.append(exc)
            tool.kill()
        finally:
            tool.proc.stdout.close()

    def count():
        try:
            snapshot.count_rows(list(tracker.by_name.values()))
        except BaseException as exc:
            count_failure.append(exc)

    count_failure = []
    pumping = threading.Thread(target=pump, name=f"dump-pump-{operation_id}", daemon=True)
    pumping.start()
    counting = threading.Thread(target=count, name=f"dump-count-{operation_id}", daemon=True)
    if snapshot is not None:
        counting.start()
    watch = CopyWatch(target, app)
    try:
        while pumping.is_alive():
            pumping.join(POLL_SECONDS)
            for relid, tuples in watch.read():
                tracker.on_copy(relid, tuples)
            progress.advance(tracker.done(), message=N_("%(size)s written"), params={"size": human_size(written)})
            if count_failure:
                raise count_failure[0]
        code = tool.wait()
        if code != 0 or failure:
            _stop_count(snapshot, counting)
        while counting.is_alive():  # the count ends after the dump only on a slow server
            counting.join(POLL_SECONDS)
            progress.check_cancel()
    except BaseException:
        tool.kill()
        pumping.join(10)
        _stop_count(snapshot, counting)
        raise
    finally:
        watch.close()
    if failure:
        raise write_failed(failure[0])
    # A table pg_dump could not read either is named by the count (the clearer sentence);
    # a count stopped here because pg_dump failed says nothing of its own.
    if count_failure and not getattr(counting, "stopped", False):
        raise count_failure[0]
    if code != 0:
        raise DbkeeperError(N_("%(tool)s failed (exit code %(code)s): %(error)s"), code="backup_failed",
                            params={"tool": what, "code": code, "error": tool.errors() or "no error output"})
    progress.advance(tracker.data_total)
    return written


def enlarge_pipe(stream, size=PIPE_SIZE) -> None:
    """Ask for a larger pipe buffer; a system that refuses keeps its own."""
    try:
        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except OSError as exc:
        log.debug("pipe size left as it is: %s", exc)


def _stop_count(snapshot, counting):
    if snapshot is not None and counting.is_alive():
        counting.stopped = True
        snapshot.stop()
        counting.join(10)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def write_failed(exc) -> DbkeeperError:
    """A write into the storage that failed, as a sentence (a full disk says so)."""
    import errno

    if isinstance(exc, DbkeeperError):
        return exc
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return DbkeeperError(N_("The backup storage is full: %(error)s. Nothing was stored."), code="disk_full",
                             params={"error": str(exc)})
    return DbkeeperError(N_("The backup could not be written to the storage: %(error)s. Nothing was stored."),
                         code="storage_failed", params={"error": str(exc)})


__all__ = ["Snapshot", "DumpTracker", "run_dump", "check_pg_dump_for", "check_tool_version", "write_failed"]
