"""What every backup maker does: check that it can back up a target (before
anything is recorded), then write the backup into a binary file-like object
(it only calls ``write()``) while reporting progress, and say what it wrote:
the tables with their exact row counts and the versions involved."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ...errors import DbkeeperError
from ...messages import Message, N_


@dataclass
class BackupOptions:
    compress: int = 6  # gzip level 0-9
    operation_id: str = ""
    roles: bool = False  # also store the server's roles (pg_dumpall --roles-only)
    role_passwords: bool = False  # ...with their password hashes


@dataclass
class MadeBackup:
    tables: dict = field(default_factory=dict)  # name -> exact row count
    server_version: str = ""
    tool_version: str = ""  # e.g. "pg_dump 15.4"
    details: dict = field(default_factory=dict)


def check_compress(level) -> int:
    try:
        value = int(level)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= 9:
        raise DbkeeperError(N_("The compression level must be a whole number from 0 to 9."), code="bad_compression")
    return value


class Maker(ABC):
    format = ""  # registry name, e.g. "pg_custom"
    engine_format = ""  # the engine that restores what this writes (catalog "format")
    label = ""
    target_kinds: tuple = ()
    extension = ""  # of the stored file, e.g. ".dump"

    def check(self, target, options: BackupOptions) -> None:
        """Refuse, with a sentence, what cannot be backed up; called before
        the operation is recorded. Changes nothing."""
        if target.kind not in self.target_kinds:
            raise DbkeeperError(N_("A %(label)s cannot be made of a %(kind)s database."), code="wrong_target_kind",
                                params={"label": Message(self.label), "kind": target.kind})

    @abstractmethod
    def make(self, target, out, progress, options: BackupOptions) -> MadeBackup:
        """Write the backup of ``target`` into ``out`` (``write()`` only).
        Raise a DbkeeperError with a sentence on failure; call
        ``progress.check_cancel()`` often."""
