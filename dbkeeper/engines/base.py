"""What every backup format can do: recognise a file, describe it, and restore
it into a (scratch) target while reporting progress."""

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from ..errors import CheckFailed
from ..messages import Message, N_, Np_


@dataclass
class BackupInfo:
    format: str  # engine id, e.g. "pg_custom"
    label: str  # for people, e.g. "PostgreSQL custom-format dump"
    size: int  # bytes on disk
    compressed: bool = False
    tables: list = field(default_factory=list)  # names as Target.tables() reports them
    server_version: str | None = None
    details: dict = field(default_factory=dict)

    def as_dict(self):
        return asdict(self)


class Engine(ABC):
    format = ""
    label = ""
    # Target kinds this format restores into ("postgresql", "sqlite").
    target_kinds: tuple = ()
    # How many leading bytes sniff() wants.
    sniff_bytes = 512

    @abstractmethod
    def sniff(self, head: bytes) -> bool:
        """True when the first bytes of a file look like this format."""

    @abstractmethod
    def inspect(self, path) -> BackupInfo:
        """Describe the backup; raise BackupRejected if it is corrupt or hostile.
        Nothing is written anywhere."""

    @abstractmethod
    def restore(self, path, info: BackupInfo, target, progress) -> None:
        """Restore into ``target`` (a scratch database that exists and is
        empty). Report with ``progress.set_total``/``progress.advance``; call
        ``progress.check_cancel()`` often; raise RestoreFailed with a sentence
        on failure."""

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
