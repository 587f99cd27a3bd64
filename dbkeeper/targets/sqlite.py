"""A SQLite database file as a restore target. The scratch copy is a new file
beside the target.

The swap never renames a file that may be open: the application keeps
connections to its database (Django with ``CONN_MAX_AGE``), and a connection
to a renamed file keeps serving the old database and writes into what became
the pre-restore copy. The restored copy is written into the live file with
SQLite's online backup API instead, as one write transaction of the live file:

1. the first step copies a few pages and takes the live file's write lock
   (exclusive in rollback-journal mode), held to the end, so nobody commits
   between the pre-restore copy and the restore;
2. the pre-restore copy is then taken from the live file as last committed
   (in WAL mode through an ordinary reader; in rollback mode by reading the
   main file without locks, which is exact: we hold its exclusive lock and the
   first step's pages are still in our page cache);
3. the remaining steps and the commit: other connections see the restored
   database at their next statement; a failure at any point rolls back and
   leaves the live file as it was. In rollback-journal mode the application's
   reads wait for the copy (their busy timeout must cover it); in WAL mode
   they go on reading the old database until the commit.

The live file keeps its journal mode (the application's choice). A file in WAL
mode cannot take pages of another size, so the scratch copy is first rebuilt
with the live file's page size. A live file that does not exist yet, or that is
not a SQLite database at all (nothing can be using it), is replaced by renames.
"""

import logging
import os
import sqlite3
import time
from pathlib import Path

from django.utils import timezone

from ..errors import CheckFailed, TargetError
from ..messages import N_, Np_
from .base import Target

log = logging.getLogger(__name__)

COMPANIONS = ("-wal", "-shm", "-journal")
# How long one attempt at the live file's lock waits (SQLite's busy handler) ...
BUSY_TIMEOUT = 5
# ... and how long the swap keeps trying before it gives up, changing nothing.
LOCK_WAIT = 60
# Bytes copied per backup step, and the live connection's page cache: the first
# step must fit in the cache, so that nothing reaches the live file before the
# pre-restore copy is taken.
STEP_BYTES = 1 << 20
CACHE_KIB = 8 * 1024


class SqliteTarget(Target):
    kind = "sqlite"
    lock_wait_seconds = LOCK_WAIT

    @property
    def path(self) -> Path:
        return Path(self.url.name)

    def lock_key(self) -> str:
        return f"sqlite:{os.path.realpath(self.path)}"

    def exists(self) -> bool:
        return self.path.exists()

    def scratch(self, operation_id: str) -> "SqliteTarget":
        short = operation_id.rsplit("_", 1)[-1][:12]
        return SqliteTarget(self.url.with_name(str(self.path.with_name(f"{self.path.name}.dbk-scratch-{short}"))))

    def prerestore_name(self, operation_id: str) -> str:
        stamp = timezone.now().strftime("%Y%m%d_%H%M%S")
        base = self.path.with_name(f"{self.path.name}.prerestore-{stamp}")
        # Two restores in the same second must not share (and overwrite) a copy.
        candidate, n = base, 1
        while any(Path(str(candidate) + suffix).exists() for suffix in ("", *COMPANIONS)):
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")
        return str(candidate)

    def create(self) -> None:
        # The engine writes the file; make sure its folder is there and nothing stale is.
        if not self.path.parent.is_dir():
            raise TargetError(N_("The folder %(folder)s does not exist."), params={"folder": str(self.path.parent)})
        _remove(self.path)

    def drop(self) -> None:
        _remove(self.path)

    def database_size(self, name: str) -> int | None:
        paths = [Path(name)] + [Path(name + suffix) for suffix in COMPANIONS]
        sizes = [p.stat().st_size for p in paths if p.is_file()]
        return sum(sizes) if sizes else None

    def drop_named(self, name: str) -> None:
        path = Path(name)
        if path.parent != self.path.parent or not (
            path.name.startswith(self.path.name + ".dbk-scratch-") or path.name.startswith(self.path.name + ".prerestore-")
        ):
            raise TargetError(N_("%(name)s is not a scratch or pre-restore copy of %(live)s; it was not removed."),
                              params={"name": name, "live": str(self.path)})
        _remove(path)

    def _connect(self, readonly=True):
        if readonly:
            return sqlite3.connect(_uri(self.path, "mode=ro"), uri=True)
        return sqlite3.connect(self.path)

    def tables(self) -> set[str]:
        conn = self._connect()
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        finally:
            conn.close()

    def row_counts(self) -> dict[str, int]:
        conn = self._connect()
        try:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            return {name: conn.execute('SELECT count(*) FROM "%s"' % name.replace('"', '""')).fetchone()[0]
                    for name in names}
        finally:
            conn.close()

    def check(self) -> None:
        try:
            conn = self._connect()
            try:
                rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise CheckFailed(N_("The restored SQLite file cannot be read: %(error)s."), params={"error": str(exc)}) from exc
        if rows != ["ok"]:
            raise CheckFailed(N_("The restored SQLite file failed its integrity check: %(problems)s"),
                              params={"problems": "; ".join(rows[:5])})

    # -- the swap ---------------------------------------------------------------------
    def swap_in(self, scratch: "SqliteTarget", prerestore_name: str) -> str | None:
        live, new, pre = self.path, scratch.path, Path(prerestore_name)
        if any(Path(str(new) + c).exists() for c in ("-wal", "-journal")):
            raise TargetError(N_("The restored SQLite file is not self-contained (it has a journal beside it)."))
        if not live.exists():
            # No file, so no connection to it: the scratch file simply takes its name.
            os.replace(new, live)
            _sync_dir(live.parent)
            return None
        conn = self._open_live()
        if conn is None:
            return _replace_unreadable(live, new, pre)
        try:
            self._copy_into_live(conn, new, pre)
            # The restore has committed: from here on nothing may fail it.
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                    # Fold the restored pages into the main file now rather than at some later commit.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                log.warning("could not checkpoint %s after the restore: %s", live, exc)
        finally:
            conn.close()
        _sync_dir(live.parent)
        # The restore is in place: a scratch file that cannot be removed is only a leftover.
        try:
            _remove(new)
        except OSError as exc:
            log.warning("could not remove the scratch file %s: %s", new, exc)
        log.info("copied %s into %s; previous kept as %s", new, live, pre)
        return str(pre)

    def _busy_timeout(self) -> float:
        return min(BUSY_TIMEOUT, self.lock_wait_seconds)

    def _open_live(self):
        """A connection to the live file, or None if it is not a SQLite database."""
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout(), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode").fetchone()
            return conn
        except sqlite3.DatabaseError as exc:
            conn.close()
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_NOTADB:
                log.warning("the live file %s is not a SQLite database; it is set aside by renaming it", self.path)
                return None
            if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise _locked(self.path, self._busy_timeout()) from exc
            raise TargetError(N_("The live SQLite file %(path)s cannot be read: %(error)s."),
                              params={"path": str(self.path), "error": str(exc)}) from exc

    def _copy_into_live(self, conn, new: Path, pre: Path) -> None:
        live = self.path
        try:
            live_mode = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
            live_page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.Error as exc:
            raise TargetError(N_("The live SQLite file %(path)s cannot be read: %(error)s."),
                              params={"path": str(live), "error": str(exc)}) from exc
        source = _prepared_scratch(new, live_mode, live_page_size)
        copy = _PreRestoreCopy(live, live_mode, pre)
        try:
            pages, page_size = (source.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
            # The first step must not be the last (the last one commits), so the copy is taken between them.
            step = max(1, min(STEP_BYTES // page_size, pages - 1))
            if pages < 2:
                # A one-page database goes in one step: copy the live file just before, without its lock.
                copy.take(locked=False)
            deadline = time.monotonic() + self.lock_wait_seconds

            def between_steps(status, remaining, total):
                # Never raise once the copy is done: the last step has committed by then.
                if status == sqlite3.SQLITE_OK and not copy.taken:
                    copy.take(locked=True)
                elif status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and time.monotonic() > deadline:
                    raise _locked(live, self.lock_wait_seconds)

            try:
                source.backup(conn, pages=step, progress=between_steps)
            except sqlite3.Error as exc:
                raise TargetError(N_("The restored copy could not be written into the live SQLite file %(path)s: %(error)s."),
                                  params={"path": str(live), "error": str(exc)}) from exc
        except BaseException:
            copy.discard()
            raise
        finally:
            source.close()


class _PreRestoreCopy:
    """The live file as last committed, written to a new file beside it."""

    def __init__(self, live: Path, live_mode: str, path: Path):
        self.live, self.live_mode, self.path = live, live_mode, path
        self.created = self.taken = False

    def take(self, locked: bool) -> None:
        if self.live_mode != "wal" and locked:
            # Our exclusive lock keeps every other connection out and nothing of
            # ours is in the main file yet: it is the committed database. Read it
            # without taking locks (immutable), which the lock we hold would refuse.
            reader = sqlite3.connect(_uri(self.live, "mode=ro&immutable=1"), uri=True)
        else:
            reader = sqlite3.connect(self.live, timeout=BUSY_TIMEOUT)
        try:
            with open(self.path, "xb"):  # never over an existing file
                self.created = True
            out = sqlite3.connect(self.path)
            try:
                reader.backup(out)
            finally:
                out.close()
        except (OSError, sqlite3.Error) as exc:
            raise TargetError(N_("The pre-restore copy %(name)s could not be written: %(error)s."),
                              params={"name": str(self.path), "error": str(exc)}) from exc
        finally:
            reader.close()
        self.taken = True

    def discard(self) -> None:
        if self.created:
            _remove(self.path)


def _locked(path: Path, seconds) -> TargetError:
    return TargetError(Np_("The live SQLite file %(path)s stayed locked by other connections for %(count)s second; "
                           "the restored copy was not put in place.",
                           "The live SQLite file %(path)s stayed locked by other connections for %(count)s seconds; "
                           "the restored copy was not put in place."),
                       params={"path": str(path), "count": seconds})


def _prepared_scratch(path: Path, live_mode: str, live_page_size: int):
    """A connection to the scratch file, made fit to be copied into the live file:
    in rollback-journal mode (the copy then keeps the live file's mode) and, for a
    live file in WAL mode, with its page size."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0].lower()
            if mode != "delete":
                raise TargetError(
                    N_("The restored SQLite file could not be switched to %(mode)s journal mode (it stayed in %(got)s)."),
                    params={"mode": "delete", "got": mode})
        if live_mode == "wal" and conn.execute("PRAGMA page_size").fetchone()[0] != live_page_size:
            log.info("rebuilding %s with the live file's page size of %s bytes", path.name, live_page_size)
            conn.execute(f"PRAGMA page_size = {int(live_page_size)}")
            conn.execute("VACUUM")
    except sqlite3.Error as exc:
        conn.close()
        raise TargetError(N_("The restored SQLite file could not be made ready to be copied into the live file: %(error)s."),
                          params={"error": str(exc)}) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _replace_unreadable(live: Path, new: Path, pre: Path) -> str:
    """Set a live file that is not a database aside by renaming it, and put the scratch file in its place."""
    os.replace(live, pre)
    for suffix in ("-wal", "-journal"):
        if Path(str(live) + suffix).exists():
            os.replace(str(live) + suffix, str(pre) + suffix)
    _remove_file(Path(str(live) + "-shm"))
    try:
        os.replace(new, live)
    except OSError:
        log.exception("swap of %s failed after the live file was moved aside; putting it back", live)
        os.replace(pre, live)
        for suffix in ("-wal", "-journal"):
            if Path(str(pre) + suffix).exists():
                os.replace(str(pre) + suffix, str(live) + suffix)
        raise
    _sync_dir(live.parent)
    log.info("swapped %s into %s; previous (not a database) kept as %s", new, live, pre)
    return str(pre)


def _uri(path: Path, query: str) -> str:
    # as_uri() escapes ?, # and % in the path.
    return f"{path.resolve().as_uri()}?{query}"


def _remove(path: Path):
    _remove_file(path)
    for suffix in COMPANIONS:
        _remove_file(Path(str(path) + suffix))


def _remove_file(path: Path):
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _sync_dir(folder: Path):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
