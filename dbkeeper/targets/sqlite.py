"""A SQLite database file as a restore target. The scratch copy is a new file
beside the target; the swap is two renames in the same folder (atomic on
POSIX), after the live file's write-ahead log has been folded into it."""

import logging
import os
import sqlite3
import time
from pathlib import Path

from django.utils import timezone

from ..errors import CheckFailed, TargetError
from ..messages import N_
from .base import Target

log = logging.getLogger(__name__)

COMPANIONS = ("-wal", "-shm", "-journal")


class SqliteTarget(Target):
    kind = "sqlite"

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
        return str(self.path.with_name(f"{self.path.name}.prerestore-{stamp}"))

    def create(self) -> None:
        # The engine writes the file; make sure its folder is there and nothing stale is.
        if not self.path.parent.is_dir():
            raise TargetError(f"The folder {self.path.parent} does not exist.")
        _remove(self.path)

    def drop(self) -> None:
        _remove(self.path)

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
            # as_uri() escapes ?, # and % in the path.
            return sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        return sqlite3.connect(self.path)

    def tables(self) -> set[str]:
        conn = self._connect()
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
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
            raise CheckFailed("The restored SQLite file failed its integrity check: " + "; ".join(rows[:5]))

    def swap_in(self, scratch: "SqliteTarget", prerestore_name: str) -> str | None:
        live, new, pre = self.path, scratch.path, Path(prerestore_name)
        if any(Path(str(new) + c).exists() for c in ("-wal", "-journal")):
            raise TargetError("The restored SQLite file is not self-contained (it has a journal beside it).")
        if not live.exists():
            os.replace(new, live)
            _sync_dir(live.parent)
            return None
        self._checkpoint(live)
        os.replace(live, pre)
        # Whatever the log still holds belongs to the old database: it travels with it.
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
        log.info("swapped %s into %s; previous kept as %s", new, live, pre)
        return str(pre)

    @staticmethod
    def _checkpoint(path):
        """Fold the write-ahead log into the main file, so the file alone is the database."""
        conn = sqlite3.connect(path, timeout=30)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                return
            for _ in range(50):
                busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return
                time.sleep(0.1)
            log.warning("could not fully checkpoint %s: readers kept it busy; its log moves with it", path)
        finally:
            conn.close()


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
