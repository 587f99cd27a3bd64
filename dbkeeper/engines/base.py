"""What every backup format can do: recognise a file, describe it, and restore
it into a (scratch) target while reporting progress. The runner uses nothing
of an engine that is not declared here."""

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from ..errors import CheckFailed, DbkeeperError, RestoreFailed
from ..messages import Message, N_, Np_

log = logging.getLogger(__name__)


@runtime_checkable
class Reporter(Protocol):
    """Where an engine reports progress (operations.progress.Progress is the
    real one). Sentences are English templates, translated when shown."""

    def stage(self, stage, message="") -> None:
        """A new stage of the operation begins (the runner calls this)."""

    def set_total(self, total, unit="bytes") -> None:
        """How much work the current stage has, in ``unit``."""

    def advance(self, done, message=None) -> None:
        """``done`` (absolute, in the unit of set_total) is finished; may raise Cancelled."""

    def message(self, text) -> None:
        """What is happening now, shown under the progress bar."""

    def event(self, message, level="info", code="") -> None:
        """A line of the operation's event log."""

    def check_cancel(self) -> None:
        """Raise Cancelled if the user asked to stop."""

    def flush(self, force=False) -> None:
        """Write what was reported now (``force``: even if written a moment ago)."""


@dataclass
class BackupInfo:
    format: str  # engine id, e.g. "pg_custom"
    label: str  # for people, e.g. "PostgreSQL custom-format dump"
    size: int  # bytes on disk
    compressed: bool = False
    tables: list = field(default_factory=list)  # names as Target.tables() reports them
    server_version: str | None = None
    details: dict = field(default_factory=dict)
    # What the engine parsed in inspect() and wants again in restore() (the
    # archive's table of contents...). Private to the engine that made it:
    # never stored, never shown; restore() reads the file again when it is None.
    parsed: Any = field(default=None, repr=False, compare=False)

    def as_dict(self):
        data = asdict(replace(self, parsed=None))
        del data["parsed"]
        return data


class Companion(ABC):
    """Files that belong with a restored database (an Odoo filestore) and are
    swapped in together with it. The runner calls prepare() after the engine's
    restore, swap() just before the database swap, rollback() if the database
    swap then failed, and discard() if anything failed before."""

    @abstractmethod
    def prepare(self, progress: Reporter) -> None: ...

    @abstractmethod
    def swap(self) -> dict:
        """Put the files in place; the dict joins the operation's result."""

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def discard(self) -> None: ...


class Engine(ABC):
    format = ""
    label = ""
    # Target kinds this format restores into ("postgresql", "sqlite").
    target_kinds: tuple = ()
    # How many leading bytes sniff() wants.
    sniff_bytes = 512
    # A loose format (plain SQL: any text that starts like SQL) is sniffed
    # after every other engine, whatever the order of the registry.
    sniff_last = False

    @abstractmethod
    def sniff(self, head: bytes) -> bool:
        """True when the first bytes of a file look like this format."""

    @abstractmethod
    def inspect(self, path) -> BackupInfo:
        """Describe the backup; raise BackupRejected if it is corrupt or hostile.
        Nothing is written anywhere."""

    def can_stream(self) -> bool:
        """True when inspect() and restore() also take a StreamSource
        (dbkeeper.streams): a stored backup read front to back from remote
        storage, without a local copy. False: they need a local file."""
        return False

    def preview(self, path) -> BackupInfo:
        """What a person confirms a restore from (format, size, tables), as
        quickly as the format allows. An engine that can check the rest while
        it restores returns less than inspect() with ``details["partial"]``
        set; restore() then completes ``info`` before check() runs."""
        return self.inspect(path)

    @abstractmethod
    def restore(self, path, info: BackupInfo, target, progress: Reporter) -> None:
        """Restore into ``target`` (a scratch database that exists and is
        empty). Report with ``progress.set_total``/``progress.advance``; call
        ``progress.check_cancel()`` often; raise RestoreFailed with a sentence
        on failure."""

    def companion(self, path, info: BackupInfo, target, operation_id) -> Companion | None:
        """Files to swap in with the database; None (the default) when the
        format is a database alone."""
        return None

    def check(self, info: BackupInfo, target) -> None:
        """After restore: every table of the backup must be in the target."""
        target.check()
        present = target.tables()
        missing = sorted(set(info.tables) - present)
        if missing:
            shown = missing[:10] if len(missing) <= 10 else Message(N_("%(items)s …"), {"items": missing[:10]})
            raise CheckFailed(Np_("The restored copy is missing %(count)s table of the backup: %(tables)s.",
                                  "The restored copy is missing %(count)s tables of the backup: %(tables)s."),
                              params={"count": len(missing), "tables": shown})


class StdinFeed:
    """Copies a StreamSource into a tool's standard input from a thread.
    ``error`` holds what broke the stream (a DbkeeperError with a sentence);
    a tool that stops reading (it failed, its exit status says why) is not
    an error of the stream."""

    def __init__(self, source, stdin):
        self.source = source
        self.stdin = stdin
        self.fed = 0
        self.error = None
        self._thread = threading.Thread(target=self._run, name="stdin-feed", daemon=True)
        self._thread.start()

    def _run(self):
        chunks = None
        try:
            chunks = self.source.chunks()
            for chunk in chunks:
                self.stdin.write(chunk)
                self.fed += len(chunk)
        except (BrokenPipeError, ValueError):  # the tool closed its input, or was killed
            log.info("the tool stopped reading %s after %s bytes", self.source, self.fed)
        except DbkeeperError as exc:
            self.error = exc
        except Exception as exc:
            log.exception("reading %s failed", self.source)
            self.error = RestoreFailed(N_("Reading the stored backup failed: %(error)s."),
                                       code="source_read_failed", params={"error": str(exc) or type(exc).__name__})
        finally:
            closer = getattr(chunks, "close", None)
            if closer is not None:
                closer()
            try:
                self.stdin.close()
            except OSError:
                pass

    def join(self, timeout=60):
        self._thread.join(timeout)
